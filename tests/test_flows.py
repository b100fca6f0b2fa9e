"""The Prefect pipeline on a real (temporary, local) Prefect server: every stage runs, a second
run is all cache hits, transient failures are retried and hard ones are not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from cpt_core.data.split import split_for
from cpt_core.errors import CptError
from cpt_core.pipeline import stages

EVAL = Path(__file__).parent / "fixtures" / "eval"
FUNCTION = '''
def {name}_{i}(values, scale={i}):
    """Return the {name} of the values, each multiplied by {i}, as a new list of numbers."""
    result = []
    for value in values:
        result.append({op} * scale)
    return result
'''


def _repos(root: Path) -> Path:
    """Small real repositories, two of them in the by-repository test split."""
    names = [f"repo{i}" for i in range(200)]
    test = [n for n in names if split_for(n) == "test"][:2]
    chosen = test + [n for n in names if split_for(n) == "train"][:6]
    ops = {"square": "value * value", "double": "value + value", "negate": "-value"}
    for n, name in enumerate(chosen):
        body = "".join(
            FUNCTION.format(name=f"{verb}_{name}", i=n * 10 + k, op=op)
            for k, (verb, op) in enumerate(ops.items())
        )
        (root / name).mkdir(parents=True)
        (root / name / "ops.py").write_text(body)
    return root


@pytest.fixture(scope="module")
def preset(tiny_model, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pipeline")
    _repos(root / "repos")
    train = {
        "model": {"name": str(tiny_model), "max_length": 48},
        "data": {"batch_size": 8, "chunk_size": 4},
        "optim": {"lr": 1e-3, "warmup_steps": 1, "max_steps": 4},
        "checkpoint_every": 2,
    }
    (root / "train.yaml").write_text(yaml.safe_dump(train))
    (root / "eval.yaml").write_text(
        yaml.safe_dump({"name": "test", "families": ["search", "code"]})
    )
    config = {
        "name": "test",
        "out": str(root / "out"),
        "code": {"inputs": [str(root / "repos" / "*")]},
        "text": {"inputs": ["shared:crawl/cc-main-2017-30-head.warc.wet.gz"]},
        "train": str(root / "train.yaml"),
        "eval_profile": str(root / "eval.yaml"),
        "eval_baselines": False,
        "eval_data": {"beir": [str(EVAL / "scifact")], "cosqa": str(EVAL / "cosqa")},
        "index_documents": 20,
    }
    (root / "pipeline.yaml").write_text(yaml.safe_dump(config))
    return root / "pipeline.yaml"


@pytest.fixture(scope="module")
def server():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def _task_states(flow_run_id) -> dict[str, str]:
    """Stage name -> state of every task in the run and its subflow runs."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterId,
        FlowRunFilterParentFlowRunId,
    )

    with get_client(sync_client=True) as client:
        children = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[flow_run_id])
            )
        )
        ids = [flow_run_id, *(child.id for child in children)]
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)))
    stages_run = [run for run in runs if not run.name.startswith("cpt-")]  # not subflow calls
    return {run.name.rsplit("-", 1)[0]: run.state.name for run in stages_run}


@pytest.fixture(scope="module")
def two_runs(server, preset):
    from flows.pipeline import pipeline

    first = pipeline(str(preset), return_state=True)
    second = pipeline(str(preset), return_state=True)
    return first, second


def test_every_stage_runs_then_all_are_cached(two_runs):
    first, second = two_runs
    summary = first.result()
    assert first.is_completed() and second.is_completed()
    for key in ("code_pairs", "text_pairs", "dataset"):
        assert (Path(summary[key]) / "manifest.json").is_file()
    assert (Path(summary["model"]) / "cpt.json").is_file()
    assert json.loads((Path(summary["index"]) / "meta.json").read_text())["count"] > 0
    results = json.loads((Path(summary["report"]).parent / "results.json").read_text())
    assert {"search/scifact", "code/cosqa"} <= results["tasks"].keys()
    assert any(task.startswith("code/csn/") for task in results["tasks"])
    first_states = _task_states(first.state_details.flow_run_id)
    second_states = _task_states(second.state_details.flow_run_id)
    stages_run = {"mine code", "mine text", "combine", "train", "index", "evaluate"}
    assert set(first_states) == stages_run and set(second_states) == stages_run
    assert set(first_states.values()) == {"Completed"}
    assert set(second_states.values()) == {"Cached"}
    assert second.result() == summary


def test_transient_failures_are_retried(two_runs, preset, monkeypatch):
    import flows.mining as module
    from flows.pipeline import pipeline

    calls = []
    real = stages.combine_stage

    def flaky(datasets, out):
        calls.append(out)
        if len(calls) < 3:
            raise OSError("lost the worker's disk")
        return real(datasets, out)

    monkeypatch.setattr(stages, "combine_stage", flaky)
    fresh = module.combine.with_options(refresh_cache=True, retry_delay_seconds=0)
    monkeypatch.setattr(module, "combine", fresh)
    state = pipeline(str(preset), return_state=True)
    assert state.is_completed() and len(calls) == 3


def test_hard_failures_fail_fast(two_runs, preset, monkeypatch):
    import flows.training as module
    from flows.pipeline import pipeline

    calls = []

    def broken(*args, **kwargs):
        calls.append(args)
        raise CptError("invalid config at 'optim.lr': must be > 0")

    monkeypatch.setattr(stages, "train_stage", broken)
    fresh = module.train.with_options(refresh_cache=True, retry_delay_seconds=0)
    monkeypatch.setattr(module, "train", fresh)
    state = pipeline(str(preset), return_state=True)
    assert state.is_failed() and len(calls) == 1
    with pytest.raises(CptError, match=r"optim\.lr"):
        state.result()


def test_killed_training_resumes_from_its_checkpoint(two_runs, preset, tmp_path):
    """A flow process killed (SIGKILL) mid-training; the next run resumes, not restarts."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from prefect.settings import PREFECT_API_URL

    config = yaml.safe_load(preset.read_text())
    train = yaml.safe_load(Path(config["train"]).read_text())
    train["optim"]["max_steps"] = 400
    train["checkpoint_every"] = 10
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(train))
    config["train"] = str(tmp_path / "train.yaml")
    (tmp_path / "pipeline.yaml").write_text(yaml.safe_dump(config))
    script = (
        "import logging, sys; logging.basicConfig(level=logging.INFO);"
        "from flows.pipeline import main; main(sys.argv[1:])"
    )
    command = [sys.executable, "-c", script, "--preset", str(tmp_path / "pipeline.yaml")]
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs = Path(config["out"]) / "train"
    earlier = set(runs.glob("*"))

    def checkpoints() -> list[Path]:
        return sorted(
            p for r in set(runs.glob("*")) - earlier for p in r.glob("checkpoints/step-*")
        )

    deadline = time.monotonic() + 180
    while not checkpoints() and time.monotonic() < deadline:
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait()
    killed_at = checkpoints()
    assert killed_at, "training never wrote a checkpoint"
    assert not (killed_at[0].parent.parent / "model").exists()  # it really died mid-training
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "resumed from" in second.stderr and "step-" in second.stderr
    model = killed_at[0].parent.parent / "model"
    assert json.loads((model / "cpt.json").read_text())["steps"] == 400


def test_served_deployment_runs_when_triggered_through_the_api(two_runs, preset):
    """A real deployment: served by its own process, triggered through the server's API."""
    import os
    import subprocess
    import sys

    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    command = [sys.executable, "-m", "flows.serve", "--name", "test", "--preset", str(preset)]
    command += ["--cron", "0 3 * * *"]
    server = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        run = _wait_for_deployment_then_run(run_deployment)
        assert run.state.is_completed(), run.state
        assert set(_task_states(run.id).values()) == {"Cached"}
    finally:
        server.terminate()
        server.wait(timeout=60)


def _wait_for_deployment_then_run(run_deployment):
    import time

    from prefect.exceptions import ObjectNotFound

    deadline = time.monotonic() + 120
    while True:
        try:
            return run_deployment("cpt-pipeline/test", timeout=300, poll_interval=1)
        except ObjectNotFound:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
