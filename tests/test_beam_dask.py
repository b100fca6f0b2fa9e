"""The mining jobs on Beam's DaskRunner, against a real dask.distributed cluster.

A scheduler and two worker processes (each under its nanny, as `dask worker` runs them on a
cluster) on 127.0.0.1, talking TCP. Each job must write exactly the local runner's dataset:
the same shard bytes and the same manifest identity, every input mined once, and the same
again when a worker process is killed mid-job.
"""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from apache_beam.options.pipeline_options import StandardOptions
from apache_beam.runners.dask.dask_runner import DaskOptions
from distributed import Client

from beam_jobs import extract_code_pairs, extract_text_pairs
from beam_jobs.dask_cluster import local_cluster
from beam_jobs.inputs import absolute
from beam_jobs.options import DASK, pipeline_options, runner_named
from cpt_core.code.config import CodeMiningConfig
from cpt_core.data.manifest import MANIFEST_NAME, Manifest
from cpt_core.errors import CptError
from cpt_core.paths import shared_data
from tests.test_beam_code import write_repos
from tests.test_beam_text import config as text_config
from tests.test_beam_text import write_crawl

REPO = Path(__file__).resolve().parents[1]
IN_PROCESS = ["--direct_num_workers=1", "--direct_running_mode=in_memory"]
CODE = CodeMiningConfig.model_validate({"shards": {"rows_per_shard": 5}})


@dataclass
class Cluster:
    address: str
    client: Client  # the test's own view of the cluster; each job connects its own client

    def beam_args(self) -> list[str]:
        """As a user gives them: the inputs are cut into one partition per worker thread
        (two), so both workers mine and every shuffle crosses processes."""
        return ["--runner=dask", f"--dask_client_address={self.address}"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[Cluster]:
    """`dask scheduler` and two `dask worker` processes, started in a folder of their own (a
    relative path resolved there would miss), with this checkout importable: the scheduler
    unpickles the task graph, the workers run it."""
    folder = tmp_path_factory.mktemp("dask")
    with local_cluster(2, folder, {**os.environ, "PYTHONPATH": str(REPO)}) as client:
        yield Cluster(client.scheduler.address, client)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, list[str]]:
    folder = tmp_path_factory.mktemp("inputs")
    (folder / "code").mkdir()
    (folder / "text").mkdir()
    stdlib_json = os.path.dirname(importlib.import_module("json").__file__)
    shared_crawl = sorted(str(p) for p in shared_data("crawl").iterdir() if "warc" in p.name)
    return {
        "code": [*write_repos(folder / "code"), stdlib_json],
        "text": [*write_crawl(folder / "text"), *shared_crawl],
    }


@pytest.fixture(scope="module")
def local(inputs, tiny_model, tmp_path_factory) -> dict[str, Path]:
    """The reference: each job on the local runner, in-process."""
    folder = tmp_path_factory.mktemp("local")
    extract_code_pairs.run(inputs["code"], str(folder / "code"), CODE, IN_PROCESS)
    text = text_preset(tiny_model)
    extract_text_pairs.run(inputs["text"], str(folder / "text"), text, IN_PROCESS)
    return {"code": folder / "code", "text": folder / "text"}


def text_preset(tiny_model: Path):
    return text_config(tiny_model, shards={"rows_per_shard": 300})


def assert_same_dataset(expected: Path, actual: Path) -> None:
    """The same files with the same bytes; the manifest the same but for its creation time."""

    def files(root: Path) -> list[Path]:
        return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())

    assert files(actual) == files(expected)
    for name in files(expected):
        if name.name != MANIFEST_NAME:
            assert (actual / name).read_bytes() == (expected / name).read_bytes(), name
    assert Manifest.read(actual).identity() == Manifest.read(expected).identity()


@contextmanager
def calls_on_workers(client: Client, module: str, name: str) -> Iterator[Callable[[], int]]:
    """Count the calls of `module.name` made in every worker process inside the block."""
    client.run(_count_calls, module, name)
    try:
        yield lambda: sum(client.run(_calls_counted, module, name).values())
    finally:
        client.run(_stop_counting, module, name)


def _count_calls(module: str, name: str) -> None:
    target = importlib.import_module(module)
    real, calls = getattr(target, name), []

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    counted.real, counted.calls = real, calls
    setattr(target, name, counted)


def _calls_counted(module: str, name: str) -> int:
    return len(getattr(importlib.import_module(module), name).calls)


def _stop_counting(module: str, name: str) -> None:
    target = importlib.import_module(module)
    setattr(target, name, getattr(target, name).real)


def test_dask_is_a_runner_name_and_needs_a_scheduler():
    assert runner_named(["--runner=dask", "--x=1"]) == [f"--runner={DASK}", "--x=1"]
    assert runner_named(["--runner", "DaskRunner"]) == ["--runner", DASK]
    assert runner_named(["--runner=DataflowRunner"]) == ["--runner=DataflowRunner"]
    with pytest.raises(CptError, match="needs a scheduler"):
        pipeline_options(["--runner=dask"])
    given = ["--runner=dask", "--dask_client_address=tcp://h:1", "--dask_npartitions=3"]
    options = pipeline_options(given, inputs=10)  # partitions given: the scheduler is not asked
    assert options.view_as(StandardOptions).runner == DASK
    assert options.view_as(DaskOptions).npartitions == 3


def test_partitions_follow_the_clusters_threads_and_the_inputs(cluster, monkeypatch):
    """Two worker threads: two partitions, fewer for fewer inputs, more for a long list (at
    most 128 inputs each); an unreachable scheduler is one line."""
    args = ["--runner=dask", f"--dask_client_address={cluster.address}"]
    for inputs, partitions in ((1, 1), (5, 2), (256, 2), (1000, 8)):
        options = pipeline_options(args, inputs=inputs)
        assert options.view_as(DaskOptions).npartitions == partitions, inputs
    monkeypatch.setattr("beam_jobs.options.CONNECT_SECONDS", 1)
    with pytest.raises(CptError, match=r"cannot reach the dask scheduler at tcp://127\.0\.0\.1:9"):
        pipeline_options(["--runner=dask", "--dask_client_address=tcp://127.0.0.1:9"], inputs=4)


def test_relative_local_paths_are_resolved_on_the_client(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert absolute("repos/alpha") == str(tmp_path / "repos" / "alpha")
    assert absolute("../x/*/") == str(tmp_path.parent / "x" / "*") + "/"
    assert absolute("/data/x") == "/data/x" and absolute("gs://b/x") == "gs://b/x"


def test_text_miner_on_dask_writes_the_local_dataset_reading_each_page_once(
    cluster, inputs, local, tiny_model, tmp_path
):
    module = "beam_jobs.extract_text_pairs"
    with calls_on_workers(cluster.client, module, "document_of") as calls:
        manifest = extract_text_pairs.run(
            inputs["text"], str(tmp_path / "text"), text_preset(tiny_model), cluster.beam_args()
        )
        extracted = calls()
    assert_same_dataset(local["text"], tmp_path / "text")
    assert manifest.counts["top_hosts"] and len(manifest.shards) > 1
    assert extracted == manifest.counts["pages"]["read"] > 200


def test_cpt_mine_code_on_dask_writes_the_local_dataset_mining_each_file_once(
    cluster, inputs, local, tmp_path
):
    """`cpt mine code --runner=dask` with relative paths, which the workers (running in
    another folder) could not resolve themselves."""
    relative = [
        arg for path in inputs["code"] for arg in ("--input", os.path.relpath(path, tmp_path))
    ]
    mine = [sys.executable, "-m", "cpt_core.cli", "mine", "code", *relative, "--output", "out"]
    options = ["--set", f"shards.rows_per_shard={CODE.shards.rows_per_shard}"]
    with calls_on_workers(cluster.client, "beam_jobs.extract_code_pairs", "mine_file") as calls:
        done = subprocess.run(
            [*mine, *options, *cluster.beam_args()],
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
            timeout=300,
        )
        mined = calls()
    assert done.returncode == 0, done.stderr[-3000:]
    assert_same_dataset(local["code"], tmp_path / "out")
    manifest = Manifest.read(tmp_path / "out")
    assert len(manifest.shards) > 1
    assert mined == sum(manifest.counts["files"].values()) > 10  # not once per side input


def test_a_worker_killed_mid_job_changes_nothing(cluster, inputs, local, tmp_path):
    """SIGKILL to a worker process busy with the job: its nanny starts a new one, the lost
    tasks run again, and the dataset is the local one, nothing counted twice."""
    pids = cluster.client.run(os.getpid)
    out = str(tmp_path / "code")
    with ThreadPoolExecutor(1) as pool:
        job = pool.submit(extract_code_pairs.run, inputs["code"], out, CODE, cluster.beam_args())
        victim = busy_worker(cluster.client, job)
        os.kill(pids[victim], signal.SIGKILL)
        assert not job.done()
        manifest = job.result(timeout=300)
    assert victim not in cluster.client.scheduler_info()["workers"]  # it did die
    assert_same_dataset(local["code"], tmp_path / "code")
    assert manifest.counts == Manifest.read(local["code"]).counts


def busy_worker(client: Client, job: Future, within: float = 60) -> str:
    """A worker running one of the job's tasks while it holds results of earlier ones, as soon
    as there is one: killing it loses both."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and not job.done():
        holding = client.has_what()
        busy = [w for w, tasks in client.processing().items() if tasks and holding.get(w)]
        if busy:
            return busy[0]
        time.sleep(0.02)
    job.result()  # a failure says why
    pytest.fail("no worker was seen running the job")
