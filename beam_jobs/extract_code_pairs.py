"""Beam job: (docstring, implementation) pairs from code repositories, with tree-sitter.

    python -m beam_jobs.extract_code_pairs --input REPO [--input REPO ...] [--input-list FILE] \
        --output DIR [--config configs/mine-code.yaml] [Beam pipeline options]

A repository is a local folder, a git checkout (tracked files only) or a .tar.gz/.zip archive
(local or on any filesystem Beam reads, such as gs://). Stages: read repositories (one element
per file, reshuffled so one huge repository spreads over all workers; a folder's files cross the
shuffle as paths and are read after it), mine each file (pure
`cpt_core.code.mine.mine_file`), drop exact then near duplicates across the whole run, join each
kept pair with its repository's licence, write deterministic Parquet shards plus dead letters and
a manifest. With no --runner, it runs locally on the Python runner with one worker per core.
"""

from __future__ import annotations

import json
import sys
from functools import partial
from pathlib import PurePosixPath

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from beam_jobs.balance import INPUTS, OUTCOMES, as_outcomes
from beam_jobs.dataset import WriteDataset, pair_key, pair_order
from beam_jobs.decontaminate import Decontaminate
from beam_jobs.dedupe import COUNTS, KEPT, ExactDedupe, NearDedupe
from beam_jobs.inputs import is_local
from beam_jobs.job import job_main, mine_with, run_job
from beam_jobs.logs import quiet_beam
from beam_jobs.progress import INPUTS_READ, Measure
from beam_jobs.routed import Routed
from cpt_core.code.config import CodeMiningConfig
from cpt_core.code.filters import FilterConfig
from cpt_core.code.languages import language_for
from cpt_core.code.licence import LICENCE_FILES, UNKNOWN, detect_licence
from cpt_core.code.mine import mine_file, with_licence
from cpt_core.code.sources import LocalFile, SourceFile, read_repository
from cpt_core.data.dead_letter import DeadLetter
from cpt_core.data.filtered import Filtered, Found
from cpt_core.data.manifest import Manifest

FILES, LICENCES, DEAD, PAIRS = "files", "licences", "dead", "pairs"
PROGRESS = (  # the Beam Metrics counters a run's progress line shows
    Measure("files", "files/"),
    Measure("pairs mined", "pairs_mined"),
    Measure("dead letters", "dead_letters", rated=False),
)


class ReadRepositories(beam.PTransform):
    """Locations -> source files, (repo, licence candidates), dead letters."""

    def __init__(self, skip_dirs: tuple[str, ...]):
        super().__init__()
        self.skip_dirs = frozenset(skip_dirs)

    def expand(self, locations):
        return (
            locations
            | "SpreadRepos" >> beam.Reshuffle()
            | "Read" >> beam.FlatMap(_read, skip_dirs=self.skip_dirs)
            | "SpreadFiles" >> beam.Reshuffle()
            | "Load" >> beam.Map(_load)
            | "Route" >> Routed(_Route(), (FILES, LICENCES, DEAD))
        )


def _read(location: str, skip_dirs: frozenset[str]):
    opener = None if is_local(location) else _open_remote
    yield from read_repository(location, opener, skip_dirs, defer_local=True)
    Metrics.counter("cpt", INPUTS_READ).inc()


def _load(item: SourceFile | LocalFile | DeadLetter) -> SourceFile | DeadLetter:
    return item.read() if isinstance(item, LocalFile) else item


def _open_remote(path: str):
    return FileSystems.open(path, compression_type="uncompressed")  # tarfile inflates itself


class _Route(beam.DoFn):
    def __init__(self):
        self.dead = Metrics.counter("cpt", "dead_letters")

    def process(self, item: SourceFile | DeadLetter):
        if isinstance(item, DeadLetter):
            self.dead.inc()
            yield DEAD, item
        elif PurePosixPath(item.path).name in LICENCE_FILES:
            spdx = detect_licence(item.data.decode("utf-8", errors="replace"))
            # the licence file nearest the root wins; at equal depth, a recognised one
            rank = (item.path.count("/"), spdx == UNKNOWN, item.path)
            yield LICENCES, (item.repo, (rank, spdx))
        else:
            yield FILES, item


class RepositoryLicences(beam.PTransform):
    """(repo, (rank, spdx)) candidates -> (repo, spdx), the best-ranked file per repository."""

    def expand(self, candidates):
        return (
            candidates
            | "Best" >> beam.CombinePerKey(min)
            | "Spdx" >> beam.MapTuple(lambda repo, best: (repo, best[1]))
        )


class AttachLicences(beam.PTransform):
    """{"rows": pair rows, "licences": (repo, spdx)} -> the rows with their repository's licence.

    A join on the repository, not a side input into mining: the DaskRunner recomputes a side
    input's whole upstream (here, reading every repository) in each bundle that reads it.
    """

    def expand(self, parts):
        by_repo = parts["rows"] | "ByRepo" >> beam.Map(lambda r: (json.loads(r["meta"])["repo"], r))
        return (
            {"rows": by_repo, "licence": parts["licences"]}
            | "Join" >> beam.CoGroupByKey()
            | "Attach" >> beam.FlatMap(_attach)
        )


def _attach(joined):
    _, groups = joined
    licence = next(iter(groups["licence"]), UNKNOWN)
    for row in groups["rows"]:
        yield with_licence(row, licence)


class MineFiles(beam.DoFn):
    """One source file -> pair rows (licence UNKNOWN until AttachLicences), counts, dead letters."""

    def __init__(self, filters: FilterConfig):
        self.filters = filters

    def process(self, file: SourceFile):
        spec = language_for(file.path)
        Metrics.counter("cpt", f"files/{spec.name}").inc()
        yield COUNTS, (("files", spec.name), 1)
        for out in mine_file(file, UNKNOWN, self.filters):
            if isinstance(out, Found):
                yield COUNTS, ((INPUTS, out.unit), out.count)
            elif isinstance(out, Filtered):
                Metrics.counter("cpt", f"filtered/{out.reason}").inc(out.count)
                yield COUNTS, (("filtered", out.reason), out.count)
                if out.unit:
                    yield COUNTS, ((OUTCOMES, out.reason), out.count)
            elif isinstance(out, DeadLetter):
                Metrics.counter("cpt", "dead_letters").inc()
                yield DEAD, out
            else:
                Metrics.counter("cpt", "pairs_mined").inc()
                yield PAIRS, out


def build(
    pipeline: beam.Pipeline,
    locations: list[str],
    output: str,
    staging: str,
    config: CodeMiningConfig,
) -> dict:
    """The whole job as a graph on `pipeline`; returns its pairs, counts and dead letters."""
    repos = (
        pipeline
        | "Locations" >> beam.Create(locations)
        | "Repos" >> ReadRepositories(config.skip_dirs)
    )
    licences = repos[LICENCES] | "Licences" >> RepositoryLicences()
    mined = repos[FILES] | "Mine" >> Routed(MineFiles(config.filters), (PAIRS, COUNTS, DEAD))
    exact = mined[PAIRS] | "ExactDedupe" >> ExactDedupe(_code_hash, pair_order)
    threshold = config.dedupe.near_threshold
    near = exact[KEPT] | "NearDedupe" >> NearDedupe(_code, pair_key, threshold, pair_order)
    clean = near[KEPT] | "Decontaminate" >> Decontaminate(
        config.decontaminate, output, code=True, outcome=True
    )
    rows = {"rows": clean[KEPT], "licences": licences} | "AttachLicences" >> AttachLicences()
    functions = (  # every function lands in one outcome: filtered above, a duplicate,
        # contaminated or kept
        (exact[COUNTS], near[COUNTS]) | "Duplicates" >> beam.Flatten() | as_outcomes("Dropped"),
        clean[KEPT] | "Kept" >> beam.Map(lambda _: ((OUTCOMES, "kept"), 1)),
    )
    counts = (
        mined[COUNTS],
        exact[COUNTS],
        near[COUNTS],
        clean[COUNTS],
        *functions,
    ) | "Counts" >> beam.Flatten()
    dead = (repos[DEAD], mined[DEAD]) | "Dead" >> beam.Flatten()
    parts = {"rows": rows, "counts": counts, "dead": dead}
    _ = parts | "Write" >> WriteDataset(
        output,
        staging,
        kind="code",
        inputs=locations,
        config=config.model_dump(mode="json"),
        rows_per_shard=config.shards.rows_per_shard,
    )
    return parts


def _code(row: dict) -> str:
    return row["y"]


def _code_hash(row: dict) -> str:
    return json.loads(row["meta"])["code_hash"]


def run(
    locations: list[str],
    output: str,
    config: CodeMiningConfig | None = None,
    beam_args: list[str] = (),
) -> Manifest:
    """Run the job; return the manifest of the dataset it wrote at `output`."""
    return run_job(build, PROGRESS, locations, output, config or CodeMiningConfig(), beam_args)


mine = partial(mine_with, run, CodeMiningConfig)  # what `cpt mine ...` and `python -m` call


def main(argv: list[str] | None = None) -> Manifest:
    return job_main(__doc__, mine, argv)


if __name__ == "__main__":
    quiet_beam()
    main(sys.argv[1:])
