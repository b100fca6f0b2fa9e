"""The Prefect pipeline on a real (temporary, local) Prefect server: every stage runs, a second
run is all cache hits, transient failures are retried and hard ones are not."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from cpt_core.data.reader import resolve_shards
from cpt_core.data.split import split_for
from cpt_core.errors import CptError
from cpt_core.paths import REPO
from cpt_core.pipeline import stages
from cpt_core.pipeline.registry import Registry

EVAL = Path(__file__).parent / "fixtures" / "eval"
FUNCTION = '''
def {name}_{i}(values, scale={i}):
    """Return the {name} of the values, each multiplied by {i}, as a new list of numbers."""
    result = []
    for value in values:
        result.append({op} * scale)
    return result
'''


def _repos(root: Path, prefix: str = "repo") -> Path:
    """Small real repositories, two of them in the by-repository test split."""
    names = [f"{prefix}{i}" for i in range(200)]
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


def test_an_edited_preset_reruns_its_stage_and_only_what_its_output_changes(
    two_runs, preset, tmp_path
):
    """Presets are keyed by their bytes, not their paths: copies elsewhere are all cache hits;
    one byte of the evaluation profile re-runs evaluation alone; a miner's preset re-runs its
    miner, and nothing after it when the mined data came out the same."""
    from flows.pipeline import pipeline

    config = yaml.safe_load(preset.read_text())
    for key in ("train", "eval_profile"):
        config[key] = shutil.copy(config[key], tmp_path)
    variant = tmp_path / "pipeline.yaml"

    def run() -> dict[str, str]:
        variant.write_text(yaml.safe_dump(config))
        state = pipeline(str(variant), return_state=True)
        return _task_states(state.state_details.flow_run_id)

    assert set(run().values()) == {"Cached"}
    profile = Path(config["eval_profile"])
    profile.write_text(profile.read_text().replace("name: test", "name: tesT"))
    states = run()
    assert states.pop("evaluate") == "Completed" and set(states.values()) == {"Cached"}
    (tmp_path / "mine-code.yaml").write_text("{}\n")  # the defaults, through a preset file
    config["code"]["config"] = str(tmp_path / "mine-code.yaml")
    states = run()
    assert states.pop("mine code") == "Completed" and set(states.values()) == {"Cached"}


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


def test_a_failed_retrain_leaves_its_dataset_to_be_announced_again(two_runs, preset, monkeypatch):
    import flows.training as module
    from cpt_core.pipeline.registry import Registry
    from flows.cache_keys import dataset_identity

    summary = two_runs[0].result()
    out = yaml.safe_load(preset.read_text())["out"]
    identity = dataset_identity(summary["dataset"])
    with Registry.updated(out) as registry:  # as the mining flow announces new data
        registry.announced.append(identity)

    def broken(*args, **kwargs):
        raise OSError("the GPU node went away")

    monkeypatch.setattr(stages, "train_stage", broken)
    fresh = module.train.with_options(refresh_cache=True, retries=0)
    monkeypatch.setattr(module, "train", fresh)
    state = module.train_and_evaluate(
        summary["dataset"], preset=str(preset), warm_start=True, return_state=True
    )
    assert state.is_failed()
    assert identity not in Registry.read(out).announced


def test_results_persist_to_the_storage_block_the_preset_names(two_runs, preset, tmp_path):
    from prefect.filesystems import LocalFileSystem

    from flows.mining import mining

    LocalFileSystem(basepath=str(tmp_path / "store")).save("cpt-test-results", overwrite=True)
    storage = {"result_storage": "local-file-system/cpt-test-results"}
    mined = mining(str(preset), storage, announce=False)
    assert mined == {k: two_runs[0].result()[k] for k in ("code_pairs", "text_pairs", "dataset")}
    stored = [json.loads(p.read_text()) for p in (tmp_path / "store").iterdir() if p.is_file()]
    assert len(stored) == 3  # mine code, mine text, combine
    assert all("result" in record and "metadata" in record for record in stored)
    assert {record["metadata"]["serializer"]["type"] for record in stored} == {"json"}


def test_a_preset_may_mine_text_alone(two_runs, preset, tmp_path):
    """(In a run folder of its own, so its model does not become the one others build on.)"""
    from flows.pipeline import pipeline

    crawl = ["shared:crawl/cc-main-201*", "shared:crawl/wget-sample-0000.warc.gz"]  # a test split
    overrides = {"out": str(tmp_path), "code.inputs": [], "text.inputs": crawl}
    summary = pipeline(str(preset), overrides)
    assert "code_pairs" not in summary and (Path(summary["text_pairs"]) / "manifest.json").is_file()
    results = json.loads((Path(summary["report"]).parent / "results.json").read_text())
    assert "code/cosqa" in results["tasks"]
    assert not any(task.startswith("code/csn/") for task in results["tasks"])


def _with_training(preset: Path, folder: Path, max_steps: int, **settings) -> dict:
    """The test preset, its training preset copied into `folder` with `max_steps` (and other
    top-level training `settings`) changed."""
    config = yaml.safe_load(preset.read_text())
    train = yaml.safe_load(Path(config["train"]).read_text())
    train["optim"]["max_steps"] = max_steps
    (folder / "train.yaml").write_text(yaml.safe_dump(train | settings))
    return config | {"train": str(folder / "train.yaml")}


def _pipeline_process(config: dict, folder: Path, script: str, **popen) -> subprocess.Popen:
    """`flows.pipeline.main` on `config` in a process of its own (`script` imports `main`
    and calls it), against the test's Prefect server."""
    from prefect.settings import PREFECT_API_URL

    (folder / "pipeline.yaml").write_text(yaml.safe_dump(config))
    command = [sys.executable, "-c", script, "--preset", str(folder / "pipeline.yaml")]
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    return subprocess.Popen(command, env=env, **popen)


def test_killed_training_resumes_from_its_checkpoint(two_runs, preset, tmp_path):
    """A flow process killed (SIGKILL) mid-training; the next run resumes, not restarts."""
    import signal
    import time

    config = _with_training(preset, tmp_path, 400, checkpoint_every=10)
    script = (
        "import logging, sys; logging.basicConfig(level=logging.INFO);"
        "from flows.pipeline import main; main(sys.argv[1:])"
    )
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    first = _pipeline_process(config, tmp_path, script, **quiet)
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
    second = _pipeline_process(config, tmp_path, script, stderr=subprocess.PIPE, text=True)
    _, stderr = second.communicate(timeout=600)
    assert second.returncode == 0, stderr[-2000:]
    assert "resumed from" in stderr and "step-" in stderr
    model = killed_at[0].parent.parent / "model"
    assert json.loads((model / "cpt.json").read_text())["steps"] == 400


def test_two_pipelines_on_one_run_folder_both_finish_alike(two_runs, preset, tmp_path):
    """Started together on one run folder (new text and training settings, so mining, training,
    indexing and evaluation all run): each stage is built once, under its folder's lock, the
    other process waits and takes it; both return the same outputs and the registry holds the
    one judgement."""
    config = _with_training(preset, tmp_path, 6) | {"out": str(tmp_path / "out")}
    config["text"]["inputs"] = ["shared:crawl/wget-sample-0000.warc.gz"]
    script = (
        "import json, sys; from flows.pipeline import main;"
        "print('SUMMARY', json.dumps(main(sys.argv[1:])))"
    )
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    both = [_pipeline_process(config, tmp_path, script, **pipes) for _ in range(2)]
    outputs = [process.communicate(timeout=900) for process in both]
    for process, (_, stderr) in zip(both, outputs, strict=True):
        assert process.returncode == 0, stderr[-3000:]
    summaries = [
        json.loads(line.removeprefix("SUMMARY "))
        for stdout, _ in outputs
        for line in stdout.splitlines()
        if line.startswith("SUMMARY ")
    ]
    assert len(summaries) == 2 and summaries[0] == summaries[1]
    summary = summaries[0]
    assert Path(summary["text_pairs"]).parent == tmp_path / "out" / "datasets"  # mined here
    history = Registry.read(tmp_path / "out").history
    assert [entry.candidate.model for entry in history] == [summary["model"]]
    assert Registry.read(tmp_path / "out").current.model == summary["current"]
    leftovers = [p for p in (tmp_path / "out").rglob(".*") if ".staging-" in p.name]
    assert leftovers == []


@pytest.fixture
def workers(server):
    """infra/prefect.yaml deployed by infra/deploy.sh, and a worker polling each pool."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    env["PREFECT"] = str(Path(sys.executable).with_name("prefect"))
    env["PREFECT_WORKER_QUERY_SECONDS"] = "1"
    deployed = subprocess.run(
        ["bash", str(REPO / "infra" / "deploy.sh")], env=env, capture_output=True, text=True
    )
    assert deployed.returncode == 0, deployed.stdout[-2000:] + deployed.stderr[-2000:]
    with get_client(sync_client=True) as client:  # every deployment that trains shares it
        assert client.read_work_pool("cpt-gpu").concurrency_limit == 1
    started = [
        subprocess.Popen(
            [env["PREFECT"], "worker", "start", "--pool", pool],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for pool in ("cpt-cpu", "cpt-gpu")
    ]
    yield
    for worker in started:
        worker.terminate()
        worker.wait(timeout=60)


def _runs_of(deployment: str) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

    flow, name = deployment.split("/")
    with get_client(sync_client=True) as client:
        return [
            run
            for run in client.read_flow_runs(
                deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[name]))
            )
            if run.flow_id == client.read_flow_by_name(flow).id
        ]


def _wait_until_done(deployment: str, count: int, seconds: float) -> list:
    """The deployment's runs once `count` of them have finished (or the time is up)."""
    import time

    deadline = time.monotonic() + seconds
    while True:
        runs = _runs_of(deployment)
        done = [r for r in runs if r.state and r.state.is_final()]
        if len(done) >= count or time.monotonic() > deadline:
            return runs
        time.sleep(1)


def test_new_data_retrains_once_and_unchanged_data_never(two_runs, preset, workers, tmp_path):
    """Deployed from infra/prefect.yaml, run by workers, triggered through the server's API:
    mining unchanged data starts no retraining; new data starts exactly one, which continues
    the current model, and the registry records both models' scores."""
    import time

    from prefect.deployments import run_deployment

    from cpt_core.pipeline.registry import Registry

    config = yaml.safe_load(preset.read_text())
    before = Registry.read(config["out"])
    assert before.current is not None and not before.announced

    unchanged = run_deployment("cpt-mining/mine", parameters={"preset": str(preset)}, timeout=600)
    assert unchanged.state.is_completed(), unchanged.state
    time.sleep(10)  # room for an automation to fire, were there an event
    assert _runs_of("cpt-train-evaluate/retrain") == []

    more = _repos(tmp_path / "more", prefix="project")  # eight more repositories
    inputs = {"code.inputs": [*config["code"]["inputs"], str(more / "*")]}
    parameters = {"preset": str(preset), "overrides": inputs}
    for _ in range(2):  # the second time the data is no longer new
        mined = run_deployment("cpt-mining/mine", parameters=parameters, timeout=600)
        assert mined.state.is_completed(), mined.state
        runs = _wait_until_done("cpt-train-evaluate/retrain", 1, 600)
    time.sleep(10)
    runs = _runs_of("cpt-train-evaluate/retrain")
    assert len(runs) == 1 and runs[0].state.is_completed(), runs
    assert runs[0].parameters["warm_start"] is True

    after = Registry.read(config["out"])
    judged = after.history[-1]
    assert judged.current.model == before.current.model
    assert judged.candidate.model != before.current.model
    assert judged.candidate.score is not None and judged.current.score is not None
    assert judged.candidate.dataset in after.announced
    start = json.loads((Path(judged.candidate.model) / "cpt.json").read_text())["base_model"]
    assert start == before.current.model  # continued from the model that was current


def test_the_pipeline_warm_starts_from_its_current_model_after_inputs_were_added(
    two_runs, preset, tmp_path
):
    """`cpt pipeline --warm-start`: the recipe for retraining from the command line."""
    from flows.pipeline import pipeline

    config = yaml.safe_load(preset.read_text())
    current = Registry.read(config["out"]).current.model
    added = _repos(tmp_path / "added", prefix="extra")
    inputs = {"code.inputs": [*config["code"]["inputs"], str(added / "*")]}
    state = pipeline(str(preset), inputs, warm_start=True, return_state=True)
    assert state.is_completed(), state
    summary = state.result()
    assert summary["dataset"] != two_runs[0].result()["dataset"]  # the added inputs were mined
    start = json.loads((Path(summary["model"]) / "cpt.json").read_text())["base_model"]
    assert start == current


def test_a_deleted_run_folder_is_made_again_not_served_from_the_cache(two_runs, preset, tmp_path):
    """`rm -rf runs` and run again: the cached results name folders that are gone, so their
    stages run again rather than hand the next stage a path to nothing."""
    from flows.mining import mining

    overrides = {"out": str(tmp_path / "runs"), "text.inputs": []}
    first = mining(str(preset), overrides, announce=False)
    shutil.rmtree(tmp_path / "runs")
    again = mining(str(preset), overrides, announce=False)
    assert again == first
    assert all((Path(folder) / "manifest.json").is_file() for folder in again.values())


def test_hard_negatives_add_a_second_round_judged_against_the_first(server, preset, tmp_path):
    """Round 1, negatives mined with its model, round 2 from round 1 on them; a rerun is all
    cache hits; the registry judged both rounds in order, on one evaluation."""
    from flows.pipeline import pipeline

    overrides = {
        "out": str(tmp_path),
        "hard_negatives.enabled": True,
        "hard_negatives.count": 2,
        "hard_negatives.train_overrides": {"optim.max_steps": 2},
    }
    first = pipeline(str(preset), overrides, return_state=True)
    second = pipeline(str(preset), overrides, return_state=True)
    summary = first.result()
    assert second.result() == summary
    states = _task_states(first.state_details.flow_run_id)
    assert {"negatives", "train-round-2"} <= set(states) and set(states.values()) == {"Completed"}
    assert set(_task_states(second.state_details.flow_run_id).values()) == {"Cached"}
    shards = resolve_shards(summary["hard_negatives"])
    mined = [row for shard in shards for row in pq.read_table(shard).to_pylist()]
    assert mined and all(len(row["negatives"]) == 2 for row in mined)
    first_round, second_round = Path(summary["first_round"]), Path(summary["model"])
    assert json.loads((second_round / "cpt.json").read_text())["steps"] == 2
    registry = Registry.read(tmp_path)
    judged = [entry.candidate.model for entry in registry.history]
    assert judged == [str(first_round), str(second_round)]
    assert registry.history[1].current.model == str(first_round)  # round 2 met round 1
    results = json.loads((Path(summary["report"]).parent / "results.json").read_text())
    assert len(results["models"]) == 2  # both rounds, in the one evaluation
