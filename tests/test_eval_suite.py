"""The whole suite on fixtures cut from the real sets: a real (tiny) decoder beside BM25, the
embedding cache, the report files, and the `cpt eval` command."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cpt_core.cli import app
from cpt_core.data.schema import pair_id
from cpt_core.data.writer import write_dataset
from cpt_core.eval.code_sets import code_set_name
from cpt_core.eval.embedding_cache import CachedEncoder
from cpt_core.eval.profile import (
    EvalData,
    EvalProfile,
    KnnProfile,
    ProbeProfile,
    SearchProfile,
    StsProfile,
)
from cpt_core.eval.report import write_report
from cpt_core.eval.suite import evaluate, with_baselines
from cpt_core.model.encoders import load_encoder
from cpt_core.model.names import model_name
from cpt_core.pipeline.registry import scores
from tests.conftest import make_tiny_model

EVAL = Path(__file__).parent / "fixtures" / "eval"
DATA = EvalData(
    senteval=EVAL / "senteval",
    stsb=EVAL / "sts" / "sts-test.csv",
    sick=EVAL / "sts" / "SICK_test_annotated.txt",
    beir=(EVAL / "scifact",),
    cosqa=EVAL / "cosqa",
)
PROFILE = EvalProfile(name="test", probe=ProbeProfile(folds=2), knn=KnnProfile(k=3))


@pytest.fixture(scope="module")
def results(tiny_model, tmp_path_factory):
    cache = tmp_path_factory.mktemp("embeddings")
    first = evaluate([str(tiny_model), "bm25"], PROFILE, DATA, cache=cache)
    second = evaluate([str(tiny_model)], PROFILE, DATA, cache=cache)
    return first, second


def test_every_family_reports_every_model_it_applies_to(results, tiny_model):
    first, _ = results
    name = tiny_model.name
    tasks = first["tasks"]
    expected_probe = {f"probe/{t}" for t in ("MR", "CR", "SUBJ", "MPQA", "SST2", "TREC", "MRPC")}
    assert expected_probe | {"probe/average"} <= tasks.keys()
    assert set(tasks["search/scifact"]) == {name, "bm25"} and set(tasks["code/cosqa"]) == {
        name,
        "bm25",
    }
    assert set(tasks["sts/STS-B"]) == {name} and set(tasks["knn/sst2"]) == {name}
    for metrics in tasks["probe/MR"].values():
        assert 0 <= metrics["accuracy"] <= 100
    assert -100 <= tasks["sts/SICK-R"][name]["spearman"] <= 100
    assert {"zeroshot/sst2-labels", "zeroshot/sst2-prompts"} <= tasks.keys()
    assert first["sizes"]["search/scifact"] == {"queries": 6, "documents": 21}
    assert first["sizes"]["probe/MR"] == {"cross_validated": 24}
    # BM25 on real SciFact claims vs their abstracts: far above chance (1/21)
    assert tasks["search/scifact"]["bm25"]["mrr@10"] > 50


def test_second_evaluation_is_all_cache_hits(results, tiny_model):
    first, second = results
    name = tiny_model.name
    assert first["models"][name]["cache"]["misses"] > 0
    assert second["models"][name]["cache"]["misses"] == 0
    assert second["tasks"]["search/scifact"][name] == first["tasks"]["search/scifact"][name]


def test_cache_is_keyed_by_side_and_identity(tiny_model, tmp_path):
    encoder = CachedEncoder(load_encoder(str(tiny_model)), tmp_path)
    query = encoder.encode(["same text"], "query")
    document = encoder.encode(["same text"], "document")
    assert not (query == document).all()  # different delimiters, different vectors
    assert (encoder.encode(["same text"], "query") == query).all() and encoder.misses == 2


def test_report_files(results, tiny_model, tmp_path):
    first, _ = results
    report = write_report(first, tmp_path / "report")
    text = report.read_text()
    identity = first["models"][tiny_model.name]["identity"]
    assert f"Models: {tiny_model.name}@{identity[:8]}, bm25." in text
    assert "## Text search (BEIR), nDCG@10" in text and "| scifact |" in text
    assert "n/a" not in text.split("## Code search")[1].split("##")[0]  # BM25 has every code task
    pngs = {p.name for p in report.parent.glob("*.png")}
    assert {"probe.png", "search.png", "recall-search-scifact.png", "recall-code-cosqa.png"} <= pngs
    assert json.loads((report.parent / "results.json").read_text())["profile"]["name"] == "test"


def test_with_baselines(tiny_model):
    assert with_baselines([]) == ["bm25", "all-minilm-l6-v2", "smollm2-135m"]
    assert with_baselines([str(tiny_model)])[:3] == [str(tiny_model), "bm25", "all-minilm-l6-v2"]


def test_cli_eval(tmp_path, monkeypatch):
    monkeypatch.setenv("CPT_HOME", str(tmp_path / "home"))
    args = ["eval", "bm25", "--no-baselines", "--report", str(tmp_path / "r"), "--profile", "full"]
    args += ["--beir", str(EVAL / "scifact"), "--cosqa", str(EVAL / "cosqa")]
    args += ["--set", "families=[search, code]"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r" / "report.md").is_file() and "report:" in result.output
    bad = CliRunner().invoke(app, ["eval", "--no-baselines"])
    assert bad.exit_code != 0 and "nothing to evaluate" in str(bad.exception)


def test_minilm_baseline_is_the_real_model():
    """all-MiniLM-L6-v2 fetched from its PyPI wheel, through the same loader as any model."""
    encoder = load_encoder("all-minilm-l6-v2", max_length=128)
    assert type(encoder).__name__ == "SentenceTransformerEncoder"
    a, b, c = encoder.encode(
        ["A man is playing a guitar.", "A person plays the guitar.", "Stocks fell sharply."],
        "query",
    )
    assert a.shape == (384,) and abs(float(a @ a) - 1) < 1e-5
    assert float(a @ b) > 0.6 > float(a @ c)
    assert load_encoder("all-minilm-l6-v2", max_length=128).identity == encoder.identity


def test_models_are_named_as_a_person_calls_them(tmp_path):
    in_run = tmp_path / "runs" / "pipeline-demo" / "train" / "train-3164982b574f129f" / "model"
    stray = tmp_path / "train-0123456789abcdef" / "model"
    for folder in (in_run, stray, tmp_path / "my-encoder", tmp_path / "my-run" / "model"):
        folder.mkdir(parents=True)
    assert model_name(str(in_run)) == "pipeline-demo"  # the run, not its cache key
    assert model_name(str(tmp_path / "my-encoder")) == "my-encoder"
    assert model_name(str(tmp_path / "my-run" / "model")) == "my-run"
    assert model_name(str(stray)) == "model"  # a cache key outside a run names nothing
    assert model_name("smollm2-135m") == "smollm2-135m"
    assert model_name("BAAI/bge-small-en-v1.5") == "BAAI/bge-small-en-v1.5"
    assert code_set_name(tmp_path / "mine-code-240d2a06a6405d85", "go") == (
        "mined Go, held-out repositories"
    )
    assert code_set_name("python_test_0.jsonl", "javascript") == "CodeSearchNet JavaScript"


def test_a_retrain_beside_its_current_model(tmp_path):
    """Two models of one run (one name) on mined code pairs: each keeps a column of its own,
    the mined set is named for people, and the judge still finds both scores."""
    train = tmp_path / "runs" / "pipeline-demo" / "train"
    current = make_tiny_model(train / "train-0000000000000001" / "model")
    candidate = make_tiny_model(train / "train-0000000000000002" / "model", hidden=48)
    mined = tmp_path / "runs" / "pipeline-demo" / "datasets" / "mine-code-240d2a06a6405d85"
    functions = [
        (f"Return item {i} of the list.", f"func item{i}() int {{ return {i} }}") for i in range(12)
    ]
    rows = [
        {
            "pair_id": pair_id("code", "test", x, y),
            "kind": "code",
            "x": x,
            "y": y,
            "language": "go",
            "source": "test",
            "split": "test",
            "meta": "{}",
            "negatives": None,
        }
        for x, y in functions
    ]
    write_dataset(rows, mined, kind="code", inputs=["test"], config={})
    profile = PROFILE.model_copy(update={"families": ("code",)})
    data = DATA.model_copy(update={"code_pairs": (str(mined),)})
    references = [str(candidate), str(current), "bm25"]
    results = evaluate(references, profile, data, cache=tmp_path / "cache")
    keys = list(results["models"])
    assert keys[0] != keys[1] and keys[2] == "bm25"
    assert all(k.startswith("pipeline-demo@") for k in keys[:2])
    assert {results["models"][k]["name"] for k in keys[:2]} == {"pipeline-demo"}
    task = "code/csn/mined Go, held-out repositories"
    assert set(results["tasks"][task]) == set(keys)
    assert results["sizes"][task] == {"test_pairs": 12, "queries": 12, "candidates": 12}
    judged = scores(results, references[:2])
    assert all(isinstance(judged[r], float) for r in references[:2])
    report = write_report(results, tmp_path / "report")
    text = report.read_text()
    assert f"Models: {keys[0]}, {keys[1]}, bm25." in text and "train-000" not in text
    assert "| mined Go, held-out repositories |" in text
    assert (report.parent / "recall-code-csn-mined-go-held-out-repositories.png").is_file()


def test_the_report_says_what_a_trained_model_saw(tiny_model, tmp_path):
    from cpt_core.train.config import load_config
    from cpt_core.train.trainer import train
    from tests.conftest import numbered_pairs, write_pairs

    pairs = write_pairs(tmp_path / "pairs", numbered_pairs(24))
    settings = {"model.name": str(tiny_model), "data.batch_size": 4, "optim.max_steps": 2}
    model = train(load_config(None, **settings), pairs, tmp_path / "run", progress=False)
    profile = PROFILE.model_copy(update={"families": ("sts",)})
    results = evaluate([str(model)], profile, DATA, cache=tmp_path / "cache")
    (info,) = results["models"].values()
    assert info["trained"] == {"steps": 2, "pairs": 8, "start": str(tiny_model)}
    text = write_report(results, tmp_path / "report").read_text()
    assert f"trained 2 steps (8 pairs) from {tiny_model}" in text


def test_an_evaluation_is_sized_to_the_machine_by_one_factor(tiny_model, tmp_path):
    """A budget no machine meets shrinks every cap by the smallest factor, for both models
    alike; one any machine meets changes nothing. The report says which."""
    capped = PROFILE.model_copy(
        update={
            "sts": StsProfile(pairs=16),
            "probe": ProbeProfile(folds=2, per_class=12),
            "search": SearchProfile(queries=6, documents=21),
        }
    )
    references = [str(tiny_model), "bm25"]
    tight = evaluate(references, capped.model_copy(update={"model_minutes": 1e-6}), DATA)
    assert tight["sizing"]["factor"] == 1 / 8 and tight["sizing"]["texts_per_s"] > 0
    assert tight["sizing"]["texts"] == 325  # the fixture sets at these caps
    assert tight["profile"]["sts"]["pairs"] == 10 and tight["profile"]["probe"]["per_class"] == 10
    assert tight["sizes"]["sts/STS-B"] == {"pairs": 10}
    assert tight["sizes"]["probe/MR"] == {"cross_validated": 20}
    assert tight["sizes"]["search/scifact"] == {"queries": 6, "documents": 10}
    text = write_report(tight, tmp_path / "tight").read_text()
    assert "Sized to this machine" in text and "1/8 of its caps" in text
    roomy = evaluate(references, capped.model_copy(update={"model_minutes": 1e3}), DATA)
    assert roomy["sizing"]["factor"] == 1 and roomy["sizes"]["sts/STS-B"] == {"pairs": 16}
    assert roomy["tasks"] == evaluate(references, capped, DATA)["tasks"]
