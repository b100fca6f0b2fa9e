"""Matryoshka widths end to end: the nested loss (exact under the gradient cache), the widths a
model records, `dimensions` from a real OpenAI client, and an index built at a smaller width."""

import json

import httpx
import numpy as np
import openai
import pytest
import torch

from cpt_core.errors import CptError
from cpt_core.index.build import build_index
from cpt_core.index.search import SearchIndex
from cpt_core.loss.contrastive import LogitScale, contrastive_loss
from cpt_core.loss.matryoshka import loss_for, matryoshka_loss, prefix
from cpt_core.model.embedder import Embedder
from cpt_core.model.folder import CPT_JSON
from cpt_core.model.widths import checked_width, narrowed
from cpt_core.train.config import LossConfig
from cpt_core.train.trainer import train
from tests.test_grad_cache import batch_of, encoder_from
from tests.test_index import DOCS
from tests.test_serve import error_of, serve
from tests.test_trainer import tiny_config


def unit(rows: int, dim: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.nn.functional.normalize(torch.randn(rows, dim, generator=generator), dim=-1)


def test_the_loss_is_the_weighted_sum_over_renormalised_prefixes():
    queries, documents, scale = unit(6, 32, 0), unit(6, 32, 1), torch.tensor(20.0)
    out = matryoshka_loss(queries, documents, scale, dims=(8, 32), weights=(0.5, 1.0))
    narrow = contrastive_loss(
        torch.nn.functional.normalize(queries[:, :8], dim=-1),
        torch.nn.functional.normalize(documents[:, :8], dim=-1),
        scale,
    )
    full = contrastive_loss(queries, documents, scale)
    assert out.loss.item() == pytest.approx(0.5 * narrow.loss.item() + full.loss.item())
    assert out.accuracy == full.accuracy  # the widest width's
    assert prefix(queries, 32) is queries and prefix(None, 8) is None
    assert loss_for((), ()) is contrastive_loss


@pytest.mark.parametrize("negatives", [False, True])
def test_the_gradient_cache_stays_exact_under_the_nested_loss(tiny_model, negatives):
    from cpt_core.loss.grad_cache import contrastive_step

    encoder = encoder_from(tiny_model)
    scale = LogitScale().double()
    batch = batch_of(encoder, 10, negatives)
    loss = loss_for((8, 16, 32), (1.0, 1.0, 1.0))

    def gradients(chunk):
        encoder.zero_grad(set_to_none=True)
        scale.zero_grad(set_to_none=True)
        prepared = batch.prepare(encoder.tokenizer, chunk)
        out = contrastive_step(encoder, scale, prepared, loss)
        return out.loss.item(), {n: p.grad.clone() for n, p in encoder.backbone.named_parameters()}

    whole, expected = gradients(0)
    cached, found = gradients(3)
    assert cached == pytest.approx(whole, rel=1e-12)
    for name, grad in expected.items():
        assert (found[name] - grad).norm() <= 1e-5 * grad.norm().clamp(min=1e-30), name


def test_widths_are_checked_and_resolved():
    config = LossConfig(matryoshka_dims=(16, "full", 8), matryoshka_weights=(1.0, 2.0, 0.5))
    assert config.widths(32) == ((8, 16, 32), (0.5, 1.0, 2.0))
    assert LossConfig().widths(32) == ((), ())
    with pytest.raises(CptError, match="64 is wider than the model"):
        LossConfig(matryoshka_dims=(64,)).widths(32)
    with pytest.raises(ValueError, match="one weight per"):
        LossConfig(matryoshka_dims=(8, 16), matryoshka_weights=(1.0,))


def test_a_trained_model_records_its_widths_and_serves_them(tiny_model, pairs_dir, tmp_path):
    config = tiny_config(
        tiny_model, **{"loss.matryoshka_dims": [8, 16, "full"], "optim.max_steps": 3}
    )
    model = train(config, pairs_dir, tmp_path / "run", progress=False)
    assert json.loads((model / CPT_JSON).read_text())["matryoshka_dims"] == [8, 16, 32]
    full = Embedder.from_pretrained(model, dtype="float32").encode(["fox"], "query")
    with serve(model) as live:
        client = openai.OpenAI(base_url=f"{live.url}/v1", api_key="unused", max_retries=0)
        got = client.embeddings.create(model="tiny:query", input=["fox"], dimensions=8)
        vector = np.array(got.data[0].embedding, dtype=np.float32)
        assert vector.shape == (8,) and np.linalg.norm(vector) == pytest.approx(1, abs=1e-5)
        np.testing.assert_allclose(vector, narrowed(full, 8)[0], atol=1e-5)
        url = f"{live.url}/v1/embeddings"
        refused = httpx.post(url, json={"model": "tiny", "input": "a", "dimensions": 12})
        assert (
            "trained to embed at 8, 16, 32 dimensions, not 12" in error_of(refused, 400)["message"]
        )


def test_an_index_at_a_smaller_width_is_searched_with_full_queries(tmp_path, tiny_model):
    model = tmp_path / "model"
    model.mkdir()
    for file in tiny_model.iterdir():
        (model / file.name).write_bytes(file.read_bytes())
    (model / CPT_JSON).write_text(
        json.dumps({"base_model": "tiny", "matryoshka_dims": [8], "max_length": 64})
    )
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(d) + "\n" for d in DOCS))
    meta = build_index(corpus, str(model), tmp_path / "narrow", dim=8)
    assert meta.dimension == 8
    index = SearchIndex(tmp_path / "narrow")
    hits = index.search(["fox document"], k=3)[0]
    queries = index.encoder.encode(["fox document"], "query")
    assert [h.id for h in hits] == [h.id for h in index.search_vectors(queries, k=3)[0]]
    with pytest.raises(CptError, match="not 12"):
        build_index(corpus, str(model), tmp_path / "odd", dim=12)
    with pytest.raises(CptError, match="was not trained for shorter ones"):
        build_index(corpus, str(tiny_model), tmp_path / "plain", dim=8)


def test_checked_width_passes_trained_widths_and_none():
    assert checked_width("m", (8, 32), None) is None
    assert checked_width("m", (8, 32), 8) == 8
    with pytest.raises(CptError, match="m produces 32-dimensional"):
        checked_width("m", (32,), 8)
