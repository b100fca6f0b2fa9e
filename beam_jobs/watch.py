"""Watching a mining run: live counts on the local runner, where to look on a cluster.

Locally, the runner is asked for its workers' counters as often as the line is shown
(`live_counters.py`) and `progress.py` shows them. A cluster runner has its own monitor, which
sees every worker: the Dask dashboard, Dataflow's console. Once the job is submitted, its
address is printed, and nothing else (the DaskRunner collects no metrics at all).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import apache_beam as beam
from apache_beam.options.pipeline_options import (
    DirectOptions,
    GoogleCloudOptions,
    PipelineOptions,
    StandardOptions,
)
from apache_beam.runners.portability.fn_api_runner.fn_runner import FnApiRunner
from apache_beam.runners.runner import PipelineResult

from beam_jobs.live_counters import LiveCounters, final_counts, reporting_to
from beam_jobs.options import LOCAL
from beam_jobs.progress import Measure, ProgressReporter, progress_display


class Watch:
    """How one run is watched: made from its options before the pipeline, used around it."""

    def __init__(self, options: PipelineOptions, measures: tuple[Measure, ...], inputs: int):
        self.options, self.measures, self.inputs = options, measures, inputs
        self.display = progress_display()
        self.local = options.view_as(StandardOptions).runner == LOCAL
        # in_memory runs each bundle inside the runner's own call: nothing to ask mid-bundle
        in_memory = options.view_as(DirectOptions).direct_running_mode == "in_memory"
        self.counted = self.display is not None and self.local and not in_memory

    def runner(self) -> FnApiRunner | None:
        """The local runner, asking its workers for counters as often as they are shown
        (None: the options' runner, as Beam makes it)."""
        if self.counted:
            return FnApiRunner(progress_request_frequency=min(self.display.every, 1.0))
        return None

    @contextmanager
    def over(self, pipeline: beam.Pipeline) -> Iterator[None]:
        """Around the block that runs `pipeline` (its `with pipeline:`)."""
        if self.counted:
            yield from self._counted(pipeline)
        elif self.display is not None and not self.local:
            yield from self._pointed(pipeline)
        else:
            yield

    def _counted(self, pipeline: beam.Pipeline) -> Iterator[None]:
        counters = LiveCounters()
        with reporting_to(counters) as live:
            if not live:  # another run in this process shows its counts; two would mix
                yield
                return
            reporter = ProgressReporter(counters.totals, self.measures, self.inputs, self.display)
            with reporter:
                yield
                reporter.stop(final_counts(pipeline.result))

    def _pointed(self, pipeline: beam.Pipeline) -> Iterator[None]:
        done = threading.Event()
        pointer = threading.Thread(target=self._point, args=(pipeline, done), daemon=True)
        pointer.start()
        try:
            yield
        finally:
            done.set()
            pointer.join()

    def _point(self, pipeline: beam.Pipeline, done: threading.Event) -> None:
        """Once the job is submitted (`with pipeline:` sets its result, then waits on it)."""
        while not done.wait(0.2):
            result = getattr(pipeline, "result", None)
            if result is not None:
                if where := where_to_look(result, self.options):
                    print(where, file=sys.stderr, flush=True)
                return


def where_to_look(result: PipelineResult, options: PipelineOptions) -> str | None:
    """The monitor of a cluster runner's job, or None for a runner with none known here."""
    client = getattr(result, "client", None)  # the DaskRunner's dask.distributed client
    if client is not None:
        address = client.scheduler.address
        try:  # (a scheduler without bokeh names its HTTP port, but /status there is a 404)
            link = client.dashboard_link
        except KeyError:  # a scheduler with no HTTP service at all
            return f"progress: the Dask scheduler {address} serves no dashboard"
        return f"progress: the Dask dashboard, {link} (scheduler {address})"
    job_id = getattr(result, "job_id", None)  # Dataflow's result
    if callable(job_id):
        gcp = options.view_as(GoogleCloudOptions)
        url = f"https://console.cloud.google.com/dataflow/jobs/{gcp.region}/{job_id()}"
        return f"progress: Dataflow's console, {url}?project={gcp.project}"
    return None
