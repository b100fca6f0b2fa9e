import pytest
import torch

from cpt_core.loss.contrastive import LogitScale
from cpt_core.loss.grad_cache import PairBatch, RngSnapshot, contrastive_step, draws_random
from cpt_core.model.delimiters import DelimitedTokenizer, Delimiters
from cpt_core.model.encoder import Encoder
from cpt_core.pretrained.load import load_backbone
from tests.conftest import numbered_pairs


def encoder_from(folder, dtype=torch.float64) -> Encoder:
    backbone, tokenizer = load_backbone(folder, dtype=dtype)
    return Encoder(backbone, DelimitedTokenizer(tokenizer, Delimiters(), max_length=24))


def batch_of(encoder: Encoder, n: int, negatives: bool) -> PairBatch:
    pairs = numbered_pairs(n)
    tok = encoder.tokenizer
    return PairBatch(
        queries=tok.encode([x for x, _ in pairs], "query"),
        documents=tok.encode(
            [y + " with more words" * (i % 3) for i, (_, y) in enumerate(pairs)], "document"
        ),
        negatives=tok.encode([f"negative {i}" for i in range(n)], "document")
        if negatives
        else None,
    )


def gradients(encoder, scale, batch, chunk, packed=False):
    encoder.zero_grad(set_to_none=True)
    scale.zero_grad(set_to_none=True)
    out = contrastive_step(encoder, scale, batch.prepare(encoder.tokenizer, chunk, packed=packed))
    grads = {n: p.grad.clone() for n, p in encoder.backbone.named_parameters()}
    grads["tau"] = scale.tau.grad.clone()
    return out.loss.item(), grads


@pytest.mark.parametrize("negatives", [False, True])
def test_cached_gradients_equal_full_batch(tiny_model, negatives):
    encoder = encoder_from(tiny_model)
    scale = LogitScale().double()
    batch = batch_of(encoder, 12, negatives)
    loss_full, full = gradients(encoder, scale, batch, chunk=0)
    for chunk in (1, 3, 5, 11):
        prepared = batch.prepare(encoder.tokenizer, chunk)
        for side in prepared.sides:  # length-sorted chunks of at most `chunk` rows
            assert [len(c.index) for c in side] == [chunk] * (12 // chunk) + [12 % chunk] * (
                12 % chunk > 0
            )
            widths = [c.batch.input_ids.shape[1] for c in side]
            assert widths == sorted(widths, reverse=True)
        loss, cached = gradients(encoder, scale, batch, chunk)
        assert loss == pytest.approx(loss_full, rel=1e-12)
        for name, grad in full.items():
            err = (cached[name] - grad).norm() / grad.norm().clamp(min=1e-30)
            assert err < 1e-5, f"{name} chunk {chunk}: relative error {err:.2e}"


def test_rng_replay_reproduces_dropout():
    x = torch.ones(1000)
    snap = RngSnapshot()
    first = torch.nn.functional.dropout(x, 0.5)
    with snap.replay():
        again = torch.nn.functional.dropout(x, 0.5)
    after = torch.nn.functional.dropout(x, 0.5)
    assert torch.equal(first, again)
    assert not torch.equal(first, after)  # replay leaves the global stream where it was


def test_dropout_model_gets_identical_embeddings_on_replay(tmp_path):
    from tests.conftest import make_tiny_model

    encoder = encoder_from(make_tiny_model(tmp_path / "m", dropout=0.3)).train()
    batch = encoder.tokenizer.collate(encoder.tokenizer.encode(["a b c", "d e f g"], "query"))
    snap = RngSnapshot()
    with torch.no_grad():
        first = encoder(batch)
    with snap.replay():
        second = encoder(batch)
    assert torch.equal(first, second)
    assert not torch.equal(first, encoder(batch))  # dropout really is active


def test_the_rng_is_recorded_only_where_a_forward_draws_from_it(tiny_model, tmp_path):
    from tests.conftest import make_tiny_model

    assert not draws_random(encoder_from(tiny_model).train())  # no dropout: nothing to replay
    dropping = encoder_from(make_tiny_model(tmp_path / "m", dropout=0.3))
    assert draws_random(dropping.train()) and not draws_random(dropping.eval())
