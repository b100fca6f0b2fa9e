"""A local run's Beam Metrics counters while it runs, read from its workers' progress reports.

Beam 2.77's FnApiRunner (the local runner) executes the whole pipeline inside `run()` and
hands back metrics only when it returns; and it gives each stage's elements to each worker as
one bundle, so even per-bundle results would arrive only as each stage ends. What it does
offer: with `progress_request_frequency` set, a `ProgressRequester` thread per running bundle
asks the worker for that bundle's counters so far. Beam keeps the answer to itself; the
class takes a `callback`, but the runner never passes one. `reporting_to` passes one, for the
length of one run, by putting a subclass in the runner module's place: the one seam there is.

Counts are never added twice: each bundle's counters are kept apart and replaced by its newer
report (counters only grow within a bundle; a finished bundle reports none, which changes
nothing), and the total is the sum over bundles. A live total can trail the truth by one
interval; the closing line uses the run's own metrics (`final_counts`).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial

from apache_beam.metrics import monitoring_infos
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.runners.portability.fn_api_runner import fn_runner
from apache_beam.runners.runner import PipelineResult

NAMESPACE = "cpt"  # every counter the jobs keep is in it

_SEAM = threading.Lock()  # one run at a time holds the seam; another runs without live counts


class LiveCounters:
    """The cpt counters of every bundle run or running, as its worker last reported them."""

    def __init__(self):
        self._lock = threading.Lock()
        self._latest: dict[tuple[str, str, str], int] = {}  # (bundle, step, name) -> count

    def report(self, bundle: str, progress) -> None:
        """One ProcessBundleProgressResponse of `bundle`."""
        with self._lock:
            for info in progress.monitoring_infos:
                labels = info.labels
                if info.urn != monitoring_infos.USER_COUNTER_URN:
                    continue
                if labels.get(monitoring_infos.NAMESPACE_LABEL) != NAMESPACE:
                    continue
                step = labels.get(monitoring_infos.PTRANSFORM_LABEL, "")
                key = (bundle, step, labels[monitoring_infos.NAME_LABEL])
                count = monitoring_infos.extract_counter_value(info)
                self._latest[key] = max(self._latest.get(key, 0), count)

    def totals(self) -> dict[str, int]:
        totals: Counter[str] = Counter()
        with self._lock:
            for (_, _, name), count in self._latest.items():
                totals[name] += count
        return dict(totals)


class _Requester(fn_runner.ProgressRequester):
    def __init__(self, counters, worker_handler, instruction_id, frequency, callback=None):
        report = partial(counters.report, instruction_id)
        super().__init__(worker_handler, instruction_id, frequency, report)


@contextmanager
def reporting_to(counters: LiveCounters) -> Iterator[bool]:
    """Inside the block, every local run's progress reports go to `counters` (True); if
    another run in this process already holds the seam, nothing changes (False)."""
    if not _SEAM.acquire(blocking=False):
        yield False
        return
    original = fn_runner.ProgressRequester
    fn_runner.ProgressRequester = partial(_Requester, counters)
    try:
        yield True
    finally:
        fn_runner.ProgressRequester = original
        _SEAM.release()


def final_counts(result: PipelineResult) -> dict[str, int]:
    """The run's cpt counters as its runner committed them, summed over steps."""
    query = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))
    totals: Counter[str] = Counter()
    for counter in query["counters"]:
        totals[counter.key.metric.name] += counter.committed
    return dict(totals)
