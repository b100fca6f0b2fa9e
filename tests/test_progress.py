"""Live progress of mining runs: the line, the counters behind it, and one real local run."""

from __future__ import annotations

import importlib
import os
import re
from types import SimpleNamespace

import pytest
from apache_beam.metrics import monitoring_infos
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.portability.api import beam_fn_api_pb2

from beam_jobs import extract_code_pairs
from beam_jobs.live_counters import LiveCounters
from beam_jobs.progress import INPUTS_READ, Measure, ProgressReporter, progress_line
from beam_jobs.watch import where_to_look
from cpt_core.data.manifest import Manifest

MEASURES = (Measure("files", "files/"), Measure("dead letters", "dead_letters", rated=False))


def test_the_line_counts_families_and_rates_only_what_moved():
    counts = {INPUTS_READ: 2, "files/python": 30, "files/go": 10, "dead_letters": 3}
    before = {"files/python": 10, "dead_letters": 1}
    line = progress_line(MEASURES, counts, before, elapsed=3725, interval=2, inputs=5)
    assert line == "1:02:05 | inputs 2/5 | files 40 (15/s) | dead letters 3"
    still = progress_line(MEASURES, counts, counts, elapsed=3726, interval=1, inputs=5)
    assert still == "1:02:06 | inputs 2/5 | files 40 | dead letters 3"


def test_the_reporter_rates_each_sample_against_the_one_before_and_ends_on_the_totals():
    samples = iter([{"files/python": 10}, {"files/python": 40}])
    times = iter([0.0, 2.0, 4.0, 10.0])
    shown = []
    display = SimpleNamespace(every=1.0, show=shown.append)
    reporter = ProgressReporter(lambda: next(samples), MEASURES, 3, display, lambda: next(times))
    assert reporter.line() == "0:00:02 | inputs 0/3 | files 10 (5/s) | dead letters 0"
    assert reporter.line() == "0:00:04 | inputs 0/3 | files 40 (15/s) | dead letters 0"
    final = reporter.final_line({INPUTS_READ: 3, "files/python": 50})
    assert final == "done: 0:00:10 | inputs 3/3 | files 50 (5/s) | dead letters 0"


def progress(*counters: tuple[str, str, str, int]):
    """A worker's progress report: (namespace, step, name, value) per counter."""
    infos = [
        monitoring_infos.int64_user_counter(namespace, name, value, ptransform=step)
        for namespace, step, name, value in counters
    ]
    return beam_fn_api_pb2.ProcessBundleProgressResponse(monitoring_infos=infos)


def test_live_counters_replace_a_bundles_counts_and_add_bundles():
    counters = LiveCounters()
    counters.report("b1", progress(("cpt", "Mine", "files/python", 5), ("other", "X", "n", 9)))
    counters.report("b1", progress(("cpt", "Mine", "files/python", 8)))  # newer, not more
    counters.report("b2", progress(("cpt", "Mine", "files/python", 4)))  # another worker
    counters.report("b2", progress(("cpt", "Route", "dead_letters", 1)))
    counters.report("b3", progress(("cpt", "Mine", "dead_letters", 2)))  # same name, other step
    counters.report("b1", progress())  # a finished bundle reports nothing: still 8
    assert counters.totals() == {"files/python": 12, "dead_letters": 3}


def test_a_cluster_run_says_where_to_look():
    class Client:
        scheduler = SimpleNamespace(address="tcp://10.0.0.5:8786")
        dashboard_link = "http://10.0.0.5:8787/status"

    class Headless(Client):
        @property
        def dashboard_link(self):
            raise KeyError("dashboard")

    options = PipelineOptions(["--project=p1", "--region=europe-west4"])
    dask = where_to_look(SimpleNamespace(client=Client()), options)
    assert dask.startswith("progress: the Dask dashboard, http://10.0.0.5:8787/status")
    assert "serves no dashboard" in where_to_look(SimpleNamespace(client=Headless()), options)
    dataflow = where_to_look(SimpleNamespace(job_id=lambda: "2026-11-29_01"), options)
    assert dataflow.endswith("/dataflow/jobs/europe-west4/2026-11-29_01?project=p1")
    assert where_to_look(SimpleNamespace(), options) is None


def test_a_local_run_shows_its_counts_while_it_runs_and_never_counts_twice(
    tmp_path, monkeypatch, capsys
):
    """Real workers (threads talking to the runner over gRPC, as the local default's processes
    do), lines every 0.05 s: live counts never exceed the run's totals, which match the
    manifest."""
    monkeypatch.setenv("CPT_PROGRESS_SECONDS", "0.05")
    stdlib = os.path.dirname(importlib.import_module("email").__file__)
    threads = ["--direct_num_workers=1", "--direct_running_mode=multi_threading"]
    manifest = extract_code_pairs.run([stdlib], str(tmp_path / "out"), beam_args=threads)
    lines = [line for line in capsys.readouterr().err.splitlines() if " | inputs " in line]
    counted = [_counts(line) for line in lines]
    *live, final = counted
    assert lines[-1].startswith("done: ")
    files = sum(manifest.counts["files"].values())
    dead = sum(entry.rows for entry in Manifest.read(tmp_path / "out").dead_letters)
    assert (final["inputs"], final["files"], final["dead"]) == (1, files, dead)
    assert any(c["files"] for c in live), "no counts arrived while the run was running"
    for c in live:
        assert c["files"] <= files and c["pairs mined"] <= final["pairs mined"]


def _counts(line: str) -> dict[str, int]:
    pattern = r"inputs (\d+)/\d+ \| files ([\d,]+).*pairs mined ([\d,]+).*letters ([\d,]+)"
    found = re.search(pattern, line)
    if found is None:
        pytest.fail(f"not a progress line: {line}")
    inputs, files, pairs, dead = (int(g.replace(",", "")) for g in found.groups())
    return {"inputs": inputs, "files": files, "pairs mined": pairs, "dead": dead}
