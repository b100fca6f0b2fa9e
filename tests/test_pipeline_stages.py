"""Pipeline pieces under the flows: the model registry and its judgement, mining on a runner
that writes elsewhere (as Dataflow does), and training under torchrun or from an earlier model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from beam_jobs.stage import JOBS, mine_stage
from cpt_core.errors import CptError
from cpt_core.paths import REPO, repo_path
from cpt_core.pipeline import stages
from cpt_core.pipeline.beam_runner import BeamRunner
from cpt_core.pipeline.config import MineStage
from cpt_core.pipeline.registry import ModelRecord, Registry, scores
from cpt_core.train.launch import device_count
from tests.conftest import write_pairs

RESULTS = {
    "headline": {"search": "ndcg@10", "code": "mrr", "sts": "spearman"},
    "models": {
        "new": {"reference": "runs/new/model"},
        "old": {"reference": "runs/old/model"},
        "bm25": {"reference": "bm25"},
    },
    "tasks": {
        "search/scifact": {"new": {"ndcg@10": 50.0}, "old": {"ndcg@10": 40.0}, "bm25": {}},
        "code/csn/x/go": {"new": {"mrr": 30.0}, "old": {"mrr": 36.0}},
        "sts/STS-B": {"new": {"spearman": 70.0}},  # only one model has it: not compared
    },
}


def test_scores_are_means_over_the_tasks_every_model_has():
    assert scores(RESULTS, ["runs/new/model", "runs/old/model"]) == {
        "runs/new/model": 40.0,
        "runs/old/model": 38.0,
    }
    assert scores(RESULTS, ["runs/new/model"]) == {"runs/new/model": 50.0}
    nothing_shared = {"runs/new/model": None, "missing": None}
    assert scores(RESULTS, ["runs/new/model", "missing"]) == nothing_shared


def test_registry_keeps_a_candidate_only_if_not_worse(tmp_path):
    registry = Registry()
    first = ModelRecord(model="a", dataset="d1", score=40.0)
    assert registry.needs_training("d1")
    assert registry.judge(first, None)  # nothing to beat
    assert not registry.needs_training("d1") and registry.needs_training("d2")
    registry.announced.append("d2")
    assert not registry.needs_training("d2")  # announced once, not again
    worse = ModelRecord(model="b", dataset="d2", score=39.9)
    assert not registry.judge(worse, first.model_copy(update={"score": 40.0}))
    tie = ModelRecord(model="c", dataset="d2", score=40.0)
    assert registry.judge(tie, first)
    registry.write(tmp_path)
    again = Registry.read(tmp_path)
    assert again.current.model == "c" and [h.kept for h in again.history] == [True, False, True]
    assert again.history[1].current.score == 40.0 and again.history[1].candidate.score == 39.9


def test_beam_runner_options_and_what_a_remote_runner_needs():
    assert BeamRunner().args() == [] and not BeamRunner().remote
    with pytest.raises(CptError, match="DataflowRunner needs output, project, temp_location"):
        BeamRunner(runner="DataflowRunner", region="europe-west1")
    dataflow = BeamRunner(
        runner="DataflowRunner",
        output="gs://bucket/cpt/",
        project="p",
        region="europe-west1",
        temp_location="gs://bucket/tmp",
        sdk_container_image="europe-west1-docker.pkg.dev/p/cpt/beam-worker:0.1.0",
        options=("--experiments=use_runner_v2",),
    )
    assert dataflow.args() == [
        "--runner=DataflowRunner",
        "--project=p",
        "--region=europe-west1",
        "--temp_location=gs://bucket/tmp",
        "--sdk_container_image=europe-west1-docker.pkg.dev/p/cpt/beam-worker:0.1.0",
        "--experiments=use_runner_v2",
    ]
    assert dataflow.target("mine-code-1") == "gs://bucket/cpt/mine-code-1"
    with pytest.raises(CptError, match="dask needs dask_client_address"):
        BeamRunner(runner="dask", output="/shared/cpt")
    dask = BeamRunner(runner="dask", output="/shared/cpt", dask_client_address="tcp://s:8786")
    assert dask.args() == ["--runner=dask", "--dask_client_address=tcp://s:8786"]


def test_a_runner_that_writes_elsewhere_has_its_dataset_copied_back(tmp_path, monkeypatch):
    """As on Dataflow: the job writes under `output`, the stage fetches it into the run."""
    repo = tmp_path / "repos" / "shapes"
    repo.mkdir(parents=True)
    repo.joinpath("area.py").write_text(
        'def area(width, height):\n    """Return the area of a width by height rectangle."""\n'
        "    product = width * height\n    return product\n"
    )
    beam = BeamRunner(runner="FnApiRunner", output=str(tmp_path / "bucket"))
    stage = MineStage(inputs=(str(repo),), beam=beam)
    local = tmp_path / "run" / "mine-code-abc"
    manifest = mine_stage("code", stage, local)
    remote = tmp_path / "bucket" / "mine-code-abc"
    assert manifest.counts["rows"] == 1
    written = sorted(p.relative_to(remote) for p in remote.rglob("*") if p.is_file())
    assert written == sorted(p.relative_to(local) for p in local.rglob("*") if p.is_file())
    assert (local / "manifest.json").read_bytes() == (remote / "manifest.json").read_bytes()

    monkeypatch.setitem(JOBS, "code", "no.such.job")  # mining again would fail
    (local / "manifest.json").unlink()  # an interrupted copy: no manifest
    assert mine_stage("code", stage, local).identity() == manifest.identity()


def test_device_count_from_preset_environment_or_gpus(monkeypatch):
    monkeypatch.setenv("CPT_TRAIN_DEVICES", "3")
    assert device_count() == 3 and device_count(2) == 2
    monkeypatch.setenv("CPT_TRAIN_DEVICES", "auto")
    assert device_count() == 1  # no GPU here
    monkeypatch.setenv("CPT_TRAIN_DEVICES", "many")
    with pytest.raises(CptError, match="CPT_TRAIN_DEVICES"):
        device_count()


def test_training_under_torchrun_then_continuing_from_the_model(tiny_model, pairs_dir, tmp_path):
    """Two CPU ranks (gloo) through real torchrun; then a second run starts from that model."""
    preset = tmp_path / "train.yaml"
    train = {
        "model": {"name": str(tiny_model), "max_length": 32},
        "data": {"batch_size": 8},
        "optim": {"lr": 1e-3, "warmup_steps": 1, "max_steps": 3},
    }
    preset.write_text(yaml.safe_dump(train))
    model = stages.train_stage(pairs_dir, str(preset), {}, tmp_path / "two", devices=2)
    meta = json.loads((model / "cpt.json").read_text())
    assert meta["steps"] == 3 and meta["base_model"] == str(tiny_model)

    more = stages.train_stage(pairs_dir, str(preset), {}, tmp_path / "more", init=model, devices=1)
    continued = json.loads((more / "cpt.json").read_text())
    assert continued["base_model"] == str(model)
    assert continued["train_config"]["loss"]["init_scale"] == pytest.approx(meta["logit_scale"])
    with pytest.raises(CptError, match=r"no cpt\.json"):
        stages.train_stage(pairs_dir, str(preset), {}, tmp_path / "x", init=Path(tiny_model))


@pytest.mark.parametrize("preset", sorted(REPO.glob("configs/pipeline-*.yaml")))
def test_every_pipeline_preset_loads_and_names_presets_that_exist(preset):
    from cpt_core.config import load_preset
    from cpt_core.pipeline.config import PipelineConfig
    from cpt_core.train.config import load_config

    config = load_preset(PipelineConfig, preset)
    load_config(repo_path(config.train))
    for stage in (config.code, config.text):
        assert stage.config is None or repo_path(stage.config).is_file()
    profile = config.eval_profile
    assert profile in ("quick", "full") or repo_path(profile).is_file()


def test_the_demo_index_holds_what_its_minutes_allow(tiny_model, tmp_path):
    """The rate is measured on the documents themselves: a budget nothing meets keeps the
    smallest index worth measuring for (4 samples' worth), an ample one keeps them all."""
    from cpt_core.model.throughput import SAMPLE

    pairs = [(f"query {i}", f"held-out document number {i}") for i in range(400)]
    write_pairs(tmp_path / "pairs", pairs, split="test")
    counts = {}
    for name, minutes in (("ample", 60.0), ("tight", 1e-6), ("unbounded", None)):
        out = stages.index_stage(tiny_model, tmp_path / "pairs", 400, minutes, tmp_path / name)
        counts[name] = json.loads((out / "meta.json").read_text())["count"]
    assert counts == {"ample": 400, "tight": 4 * SAMPLE, "unbounded": 400}
