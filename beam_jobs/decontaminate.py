"""Decontaminate: drop every mined pair that overlaps an evaluation set the project reports.

The overlap index (cpt_core.decontam) is built, or loaded from its cache, when the graph is
built, and workers read it from a file: the launcher's cache file for a local run, a
content-addressed copy beside the output (`.decontamination/KEY.npz`) for a cluster's workers.
Dropped pairs are counted per eval set they overlap (`contaminated` in the manifest) and, for
miners whose unit is the pair, as the `contaminated` outcome of the balance; the sets checked,
with their sizes, and the public sets missing here are counted too, so a manifest says what
its data was checked against.
"""

from __future__ import annotations

import posixpath

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from beam_jobs.balance import OUTCOMES
from beam_jobs.dedupe import COUNTS, KEPT
from beam_jobs.inputs import is_local
from beam_jobs.routed import Routed
from cpt_core.decontam.build import Checked, overlap_index
from cpt_core.decontam.config import DecontaminationConfig
from cpt_core.decontam.index import OverlapIndex

CONTAMINATED = "contaminated"


class Decontaminate(beam.PTransform):
    """Pair rows -> {KEPT: the rows no eval set overlaps, COUNTS: what was dropped and checked}.

    `code` checks each row's `y` as a function too (its shape); `outcome` counts a dropped row
    as the balance's `contaminated` outcome (the code miner, whose unit is the pair). With
    `enabled: false` every row is kept and nothing is counted."""

    def __init__(self, config: DecontaminationConfig, output: str, code: bool, outcome: bool):
        super().__init__()
        self.enabled = config.enabled
        if not self.enabled:
            return
        checked = overlap_index(config)
        self.location = _for_workers(checked, output)
        self.code, self.outcome = code, outcome
        self.checked = [
            *(
                (("decontamination_checked", name), size["texts"] + size["functions"])
                for name, size in checked.index.sizes.items()
            ),
            *((("decontamination_unavailable", name), 1) for name in checked.unavailable),
        ]

    def expand(self, rows):
        if not self.enabled:
            return {KEPT: rows, COUNTS: rows.pipeline | "Nothing" >> beam.Create([])}
        dropped = rows | "Overlaps" >> Routed(
            _DropOverlapping(self.location, self.code, self.outcome), (KEPT, COUNTS)
        )
        checked = rows.pipeline | "Checked" >> beam.Create(self.checked)
        counts = (dropped[COUNTS], checked) | "Counts" >> beam.Flatten()
        return {KEPT: dropped[KEPT], COUNTS: counts}


def _for_workers(checked: Checked, output: str) -> str:
    """Where workers read the index: the cache file here, or a copy beside a remote output."""
    if is_local(output):
        return str(checked.path)
    shared = posixpath.join(posixpath.dirname(output.rstrip("/")), ".decontamination")
    location = posixpath.join(shared, f"{checked.key}.npz")
    if not FileSystems.exists(location):
        with FileSystems.create(location, compression_type="uncompressed") as handle:
            handle.write(checked.path.read_bytes())
    return location


class _DropOverlapping(beam.DoFn):
    def __init__(self, location: str, code: bool, outcome: bool):
        self.location, self.code, self.outcome = location, code, outcome
        self.dropped = Metrics.counter("cpt", CONTAMINATED)
        self.index: OverlapIndex | None = None

    def setup(self):
        with FileSystems.open(self.location, compression_type="uncompressed") as handle:
            self.index = OverlapIndex.load(handle.read())

    def process(self, row: dict):
        if self.code:
            sets = self.index.overlaps((row["x"],), row["y"], row["language"])
        else:
            sets = self.index.overlaps((row["x"], row["y"]))
        if not sets:
            yield KEPT, row
            return
        self.dropped.inc()
        for name in sets:
            yield COUNTS, ((CONTAMINATED, name), 1)
        if self.outcome:
            yield COUNTS, ((OUTCOMES, CONTAMINATED), 1)
