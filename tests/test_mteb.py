"""MTEB 2.x on cpt models: the prompt type picks cpt's side, MTEB's figures on local BEIR sets
equal cpt's own harness, and `cpt eval --mteb` writes MTEB's result files beside the report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from datasets import Dataset
from mteb._create_dataloaders import create_dataloader
from mteb.types import PromptType

from cpt_core.eval.mteb_model import load_model
from cpt_core.eval.mteb_run import run_mteb
from cpt_core.eval.mteb_tasks import beir_task
from cpt_core.eval.profile import EvalData, EvalProfile, SearchProfile
from cpt_core.eval.suite import evaluate
from cpt_core.export.sentence_transformers import export_sentence_transformers
from cpt_core.model.embedder import Embedder
from cpt_core.model.encoders import load_encoder
from cpt_core.paths import shared_data
from tests.conftest import numbered_pairs, write_pairs

EVAL = Path(__file__).parent / "fixtures" / "eval"
TEXTS = ["How do lighthouses warn ships at night?", "It ends in a bracket.]", "x", ""]
# the quick profile's search sample: all 300 SciFact test queries, their 339 relevant abstracts
# and distractors up to 800 documents, texts cut at 128 tokens; the same sample for both harnesses
PROFILE = EvalProfile(
    name="mteb-test",
    families=("search",),
    max_length=128,
    search=SearchProfile(queries=300, documents=800),
)


@pytest.fixture(scope="module")
def trained_tiny(tiny_model, tmp_path_factory) -> Path:
    """The tiny Llama after a few contrastive steps: a real cpt model folder (cpt.json)."""
    from cpt_core.train.config import load_config
    from cpt_core.train.trainer import train

    root = tmp_path_factory.mktemp("mteb-train")
    config = load_config(
        None,
        **{"model.name": str(tiny_model), "model.max_length": 48, "data.batch_size": 8},
        **{"optim.max_steps": 4, "optim.warmup_steps": 1, "optim.lr": 1e-3},
    )
    return train(config, str(write_pairs(root / "pairs", numbered_pairs(32))), root / "run")


def _encode(model, texts: list[str], prompt_type: PromptType | None) -> np.ndarray:
    """As MTEB calls a model: a dataloader of the texts, the task's metadata, a prompt type."""
    metadata = beir_task(EVAL / "scifact").metadata
    rows = Dataset.from_dict({"id": [str(i) for i in range(len(texts))], "text": texts})
    inputs = create_dataloader(rows, task_metadata=metadata, prompt_type=prompt_type)
    split = {"hf_split": "test", "hf_subset": "default"}
    return model.encode(inputs, task_metadata=metadata, prompt_type=prompt_type, **split)


def test_the_prompt_type_picks_cpts_side(trained_tiny):
    model = load_model(str(trained_tiny), max_length=32)
    encoder = load_encoder(str(trained_tiny), 32)
    query, document = encoder.encode(TEXTS, "query"), encoder.encode(TEXTS, "document")
    assert not np.allclose(query, document, atol=1e-3)
    np.testing.assert_array_equal(_encode(model, TEXTS, PromptType.query), query)
    np.testing.assert_array_equal(_encode(model, TEXTS, PromptType.document), document)
    np.testing.assert_array_equal(_encode(model, TEXTS, None), document)  # the default side
    unsided_query = load_model(str(trained_tiny), "query", max_length=32)
    np.testing.assert_array_equal(_encode(unsided_query, TEXTS, None), query)

    meta = model.mteb_model_meta
    assert meta.name == f"cpt/{encoder.name}" and meta.revision == encoder.identity
    assert (meta.embed_dim, meta.max_tokens) == (encoder.dim, 32)
    assert meta.similarity_fn_name.value == "cosine" and "Transformers" in meta.framework
    assert meta.adapted_from is not None and meta.use_instructions is False


def test_an_export_routes_each_side_through_its_own_route(trained_tiny, tmp_path):
    """A `cpt export` folder (no config.json at its top) embeds each side as cpt does."""
    exported = export_sentence_transformers(str(trained_tiny), tmp_path / "st", max_length=32)
    model = load_model(str(exported))
    embedder = Embedder.from_pretrained(trained_tiny, max_length=32, dtype="float32", device="cpu")
    for prompt_type, side in ((PromptType.query, "query"), (PromptType.document, "document")):
        np.testing.assert_allclose(
            _encode(model, TEXTS, prompt_type), embedder.encode(TEXTS, side), atol=1e-5
        )
    assert model.mteb_model_meta.max_tokens == 32
    assert "Sentence Transformers" in model.mteb_model_meta.framework


@pytest.mark.parametrize("which", ["all-minilm-l6-v2", "cpt"])
def test_mteb_scores_scifact_as_cpt_does(which, trained_tiny, tmp_path):
    """Each harness embeds for itself (separate embedding caches) and ranks the same sample."""
    reference = str(trained_tiny) if which == "cpt" else which
    data = EvalData(beir=(shared_data("beir", "scifact"),))
    ours = evaluate([reference], PROFILE, data, cache=tmp_path / "cpt-cache")
    (name,) = ours["models"]
    ndcg = ours["tasks"]["search/scifact"][name]["ndcg@10"]
    theirs = run_mteb([reference], PROFILE, data, tmp_path / "mteb", cache=tmp_path / "mteb-cache")
    (scores,) = theirs.values()
    print(f"{which}: nDCG@10 cpt {ndcg:.3f}, MTEB {scores['scifact']:.3f}")
    assert scores["scifact"] == pytest.approx(ndcg, abs=0.1)
    assert ours["models"][name]["cache"]["misses"] > 0  # neither harness reused the other's
    assert sum(1 for _ in (tmp_path / "mteb-cache").glob("*.sqlite")) == 1


def test_cpt_eval_mteb_writes_mteb_results_beside_the_report(trained_tiny, tmp_path):
    report = tmp_path / "report"
    args = [str(trained_tiny), "--no-baselines", "--mteb", "--report", str(report)]
    args += ["--beir", str(EVAL / "scifact"), "--profile", "full", "--set", "families=[search]"]
    env = {**os.environ, "CPT_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-m", "cpt_core.cli", "eval", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert (report / "report.md").is_file() and "mteb: cpt/" in done.stdout
    results = json.loads((report / "results.json").read_text())
    (info,) = results["models"].values()
    (found,) = (report / "mteb" / "results").glob("*/*/scifact.json")
    assert found.parent.name == info["identity"]  # the revision is the identity hash
    meta = json.loads((found.parent / "model_meta.json").read_text())
    assert meta["revision"] == info["identity"] and meta["similarity_fn_name"] == "cosine"
    scores = json.loads(found.read_text())["scores"]["test"][0]
    ndcg = results["tasks"]["search/scifact"][info["name"]]["ndcg@10"]
    assert 100 * scores["ndcg_at_10"] == pytest.approx(ndcg, abs=0.1)


def test_cpt_eval_mteb_without_the_extra_fails_in_one_line(tmp_path):
    """cpt itself imports without mteb; asking for --mteb then says how to install it."""
    script = (
        "import sys; sys.modules['mteb'] = None; from cpt_core.cli import main; "
        f"sys.argv = ['cpt', 'eval', 'bm25', '--no-baselines', '--mteb', '--report', "
        f"'{tmp_path / 'r'}']; main()"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "--mteb needs the mteb extra" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "r").exists()
