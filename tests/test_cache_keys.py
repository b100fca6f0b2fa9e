"""Cache keys follow content: one byte of a stage's code, preset or data changes its key, and
only its key; a path, a name or an unrelated edit changes nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from cpt_core.eval.profile import EvalData
from cpt_core.paths import REPO
from cpt_core.pipeline.config import MineStage, PipelineConfig
from flows.cache_keys import ENTRIES, evaluate_parts, mine_parts, train_parts
from flows.closure import PROJECT, closure, code_digest, library_versions
from tests.conftest import make_tiny_model, numbered_pairs, write_pairs

EVAL = Path(__file__).parent / "fixtures" / "eval"
MINERS = {"mine-code", "mine-text"}

# One edit per line: the file, what is replaced in it (None: a line appended), and the stages
# whose code it is. A stage that only reads another's output is not listed: it re-runs only if
# that output changed (its key holds the output's content, not the code that made it).
EDITS = [
    ("cpt_core/text/filters.py", None, {"mine-text"}),
    ("cpt_core/text/warc.py", None, {"mine-text"}),
    ("cpt_core/code/filters.py", None, {"mine-code"}),
    ("cpt_core/code/languages.py", None, {"mine-code"}),
    ("beam_jobs/dedupe.py", None, MINERS),
    ("cpt_core/langid.py", None, MINERS),  # left out of the hand-kept list this replaced
    ("cpt_core/data/writer.py", None, MINERS | {"combine", "negatives"}),
    ("cpt_core/dedup/minhash.py", None, MINERS | {"combine", "negatives"}),
    ("cpt_core/train/config.py", None, {"train"}),
    ("cpt_core/loss/contrastive.py", None, {"train"}),
    ("cpt_core/train/trainer.py", None, {"train"}),
    ("cpt_core/index/faiss_index.py", None, {"index"}),
    ("cpt_core/negatives/select.py", None, {"negatives"}),
    ("cpt_core/eval/ranking.py", None, {"evaluate", "negatives"}),
    ("cpt_core/eval/profile.py", None, MINERS | {"evaluate"}),
    ("cpt_core/model/embedder.py", None, {"index", "evaluate", "negatives"}),
    (
        "cpt_core/pretrained/catalogue.py",
        None,
        {"mine-text", "train", "index", "evaluate", "negatives"},
    ),
    ("cpt_core/pipeline/stages.py", ('"duplicates_across_sources"', '"dupes"'), {"combine"}),
    ("cpt_core/pipeline/stages.py", ('out / "model"', 'out / "weights"'), {"train"}),
    ("cpt_core/pipeline/stages.py", ("INDEX_LENGTH = 128", "INDEX_LENGTH = 64"), {"index"}),
    ("cpt_core/pipeline/stages.py", ('"report.md", json', '"r.md", json'), {"evaluate"}),
    ("cpt_core/cli.py", ('split == "all"', 'split == "every"'), {"train"}),
    ("cpt_core/cli.py", ("def serve(", "def serve_it("), set()),
    ("cpt_core/serve/app.py", None, set()),
    ("flows/mining.py", None, set()),
]


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A copy of the project's packages, edited by the tests instead of the checkout."""
    root = tmp_path_factory.mktemp("project")
    for package in PROJECT:
        shutil.copytree(REPO / package, root / package, ignore=shutil.ignore_patterns("*.pyc"))
    return root


def digests(root: Path) -> dict[str, str]:
    return {stage: code_digest(entries, root) for stage, entries in ENTRIES.items()}


@pytest.fixture(scope="module")
def unedited(project) -> dict[str, str]:
    return digests(project)


@pytest.mark.parametrize(("file", "change", "stages"), EDITS, ids=lambda v: str(v)[:40])
def test_an_edit_changes_the_code_key_of_exactly_the_stages_that_run_it(
    project, unedited, file, change, stages
):
    path = project / file
    original = path.read_text()
    if change is None:
        edited = original + "\n# one byte more\n"
    else:
        assert original.count(change[0]) == 1, f"{change[0]} is not unique in {file}"
        edited = original.replace(*change)
    path.write_text(edited)
    try:
        after = digests(project)
    finally:
        path.write_text(original)
    assert {stage for stage in unedited if unedited[stage] != after[stage]} == stages


def test_the_walk_follows_imports_inside_functions_and_packages():
    sources, libraries = closure(ENTRIES["train"])
    assert "cpt_core.train.launch" in sources  # imported inside train_stage
    assert "cpt_core.train.trainer" in sources  # inside launch, and by the worker's command
    assert {"cpt_core", "cpt_core.train"} <= sources.keys()  # their __init__ runs too
    assert {"torch", "transformers"} <= libraries and "json" not in libraries
    # what the stage's libraries require counts too: tokenizers comes through transformers
    assert "tokenizers" not in libraries
    keyed = {v.split()[0] for library in libraries for v in library_versions(library)}
    assert {"tokenizers", "safetensors", "huggingface-hub"} <= keyed
    assert "cpt_core.serve.app" not in sources and "cpt_core.eval.suite" not in sources


def _copy(source: Path, target: Path, change: tuple[str, str] | None = None) -> Path:
    text = source.read_text()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text.replace(*change) if change else text)
    return target


def test_mining_keys_on_the_presets_bytes_not_its_path(tmp_path):
    inputs = (str(REPO / "tests" / "fixtures" / "code"),)
    preset = REPO / "configs" / "mine-code.yaml"

    def parts(config: Path) -> list:
        return mine_parts("code", MineStage(inputs=inputs, config=str(config)))

    same = parts(_copy(preset, tmp_path / "a" / "mine.yaml"))
    assert parts(_copy(preset, tmp_path / "b" / "other-name.yaml")) == same
    assert parts(_copy(preset, tmp_path / "c.yaml", ("\n", "\n\n"))) != same  # one byte
    moved = tmp_path / "elsewhere" / "code"  # the folder's own name is content: it splits
    shutil.copytree(inputs[0], moved)
    assert mine_parts("code", MineStage(inputs=(str(moved),), config=str(preset))) == parts(preset)


def test_text_mining_keys_on_its_tokenizer_folder(tmp_path):
    model = make_tiny_model(tmp_path / "tok")
    stage = MineStage(inputs=(str(EVAL / "sts"),), overrides={"tokenizer": str(model)})
    before = mine_parts("text", stage)
    (model / "tokenizer.json").write_text((model / "tokenizer.json").read_text() + " ")
    assert mine_parts("text", stage) != before


def test_training_keys_on_its_preset_and_base_weights(tmp_path, tiny_model):
    model = shutil.copytree(tiny_model, tmp_path / "base")
    dataset = write_pairs(tmp_path / "pairs", numbered_pairs(8))
    preset = tmp_path / "train.yaml"
    preset.write_text(yaml.safe_dump({"model": {"name": str(model)}}))

    def parts() -> list:
        return train_parts(PipelineConfig(train=str(preset)), str(dataset), None)

    before = parts()
    preset.write_text(preset.read_text() + "\n")
    assert parts() != before
    before = parts()
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + b" ")
    assert parts() != before


def test_evaluation_keys_on_its_profile_and_every_set_it_reads(tmp_path, tiny_model):
    sets = shutil.copytree(EVAL, tmp_path / "eval")
    profile = tmp_path / "p1" / "eval.yaml"
    profile.parent.mkdir()
    profile.write_text(yaml.safe_dump({"name": "t", "families": ["search", "code", "sts"]}))
    data = EvalData(
        beir=(sets / "scifact",),
        cosqa=sets / "cosqa",
        stsb=sets / "sts" / "sts-test.csv",
        sick=sets / "sts" / "SICK_test_annotated.txt",
    )

    def parts(profile_file: Path) -> list:
        config = PipelineConfig(eval_profile=str(profile_file), eval_data=data)
        return evaluate_parts(config, [str(tiny_model)], None)

    before = parts(profile)
    assert parts(_copy(profile, tmp_path / "p2" / "renamed.yaml")) == before
    assert parts(_copy(profile, tmp_path / "p3.yaml", ("name: t", "name: u"))) != before
    for changed in (sets / "scifact" / "corpus.jsonl", sets / "sts" / "sts-test.csv"):
        original = changed.read_bytes()
        changed.write_bytes(original.replace(b"e", b"E", 1))
        assert parts(profile) != before, changed
        changed.write_bytes(original)
    assert parts(profile) == before
    (sets / "senteval" / "unread.txt").write_text("not read by search, code or sts")
    assert parts(profile) == before


def test_each_run_folder_keys_its_own_stages(tmp_path):
    """Prefect's result store is shared by every run folder: a result cached for another
    folder would point into it, and fail once that folder is deleted."""
    from flows.tasks import _combine_key

    dataset = write_pairs(tmp_path / "pairs", numbered_pairs(4))
    keys = {
        out: _combine_key(None, {"datasets": [str(dataset)], "out": str(tmp_path / out)})
        for out in ("run-a", "run-b")
    }
    assert keys["run-a"] != keys["run-b"]
    same = _combine_key(None, {"datasets": [str(dataset)], "out": f"{tmp_path}/x/../run-a"})
    assert same == keys["run-a"]  # the folder, however it is spelled
