"""The end of every mining job: a dataset folder written deterministically and atomically.

Rows are hash-partitioned on their id into `ceil(rows / rows_per_shard)` shards and sorted
inside each shard, so the same rows always give byte-identical files whatever the runner's
ordering. Dead letters are written the same way as JSONL. Counts are computed as data (they are
exact on every runner) and go into the manifest. Everything lands in a hidden staging folder;
the manifest is written last and the folder is then renamed into place, so a failed run never
leaves something that looks like a complete dataset.

Totals reach the steps that need them (the shard count, the manifest) through joins, never side
inputs: the DaskRunner recomputes a side input's whole upstream, the mining included, in every
bundle that reads it.
"""

from __future__ import annotations

import hashlib
import math
import os
import posixpath
import shutil
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from beam_jobs.balance import balance
from beam_jobs.inputs import is_local
from cpt_core import __version__
from cpt_core.data.dead_letter import DeadLetter
from cpt_core.data.manifest import MANIFEST_NAME, Manifest, ShardEntry
from cpt_core.data.writer import encode_shard
from cpt_core.errors import CptError
from cpt_core.staging import publish_dir

# "_" keeps it out of Parquet dataset discovery (pyarrow and Spark skip "_" and "." names)
DEAD_LETTERS = "_dead_letters"
# rows meet their shard count in this many groups: enough to spread the assignment (a hash
# per row) over workers; each lane is an element of its own, so more only cost overhead
LANES = 64


def staging_for(output: str) -> str:
    """A hidden sibling of `output`, unique per run; readers skip hidden folders."""
    parent, name = posixpath.split(output.rstrip("/"))
    return posixpath.join(parent, f".{name}.tmp-{uuid.uuid4().hex[:12]}")


def finished(output: str) -> bool:
    """A dataset is finished once its manifest is there: it is written last."""
    return FileSystems.exists(output.rstrip("/") + "/" + MANIFEST_NAME)


def refuse_existing(output: str) -> None:
    if finished(output) or (is_local(output) and os.path.exists(output)):
        raise CptError(f"output {output} already exists; remove it or choose another path")


class WriteDataset(beam.PTransform):
    """{"rows": pair dicts, "counts": ((group, name), n), "dead": DeadLetter} -> a dataset."""

    def __init__(
        self,
        output: str,
        staging: str,
        *,
        kind: str,
        inputs: list[str],
        config: dict,
        rows_per_shard: int,
    ):
        super().__init__()
        self.output, self.staging = output, staging
        self.kind, self.inputs, self.config = kind, inputs, config
        self.rows_per_shard = rows_per_shard

    def expand(self, parts):
        rows, counts, dead = parts["rows"], parts["counts"], parts["dead"]
        written = rows | "RowCounts" >> beam.FlatMap(
            lambda r: [(("by_split", r["split"]), 1), (("by_language", r["language"] or "-"), 1)]
        )
        failed = dead | "DeadCounts" >> beam.Map(lambda d: (("dead_letters", d.reason), 1))
        totals = (
            (counts, written, failed)
            | "AllCounts" >> beam.Flatten()
            | "Sum" >> beam.CombinePerKey(sum)
        )
        per_shard = self.rows_per_shard
        pairs = WriteShards(self.staging, "pairs", ".parquet", pair_key, encode_shard, per_shard)
        shards = rows | "Pairs" >> pairs
        letters = WriteShards(
            self.staging, f"{DEAD_LETTERS}/dead-letters", ".jsonl", DeadLetter.to_json,
            _encode_jsonl, per_shard,
        )  # fmt: skip
        dead_files = dead | "DeadLetters" >> letters
        finish = _Finish(self.output, self.staging, self.kind, self.inputs, self.config)
        outputs = {"shards": shards, "dead": dead_files, "counts": totals}
        return outputs | "Gather" >> Gather() | "Publish" >> beam.Map(finish)


class Gather(beam.PTransform):
    """{name: PCollection} -> one element {name: [its elements]}, also when all are empty:
    a join on a single key."""

    def expand(self, named):
        keyed = {
            name: items | f"Key_{name}" >> beam.Map(lambda item: (None, item))
            for name, items in named.items()
        }
        once = next(iter(named.values())).pipeline | "Once" >> beam.Create([(None, None)])
        names = tuple(named)  # the lambda below must not carry the PCollections
        return (
            {**keyed, "_once": once}
            | "Join" >> beam.CoGroupByKey()
            | "Lists" >> beam.MapTuple(lambda _, groups: {n: list(groups[n]) for n in names})
        )


class WriteShards(beam.PTransform):
    """Items -> files `{prefix}-{i:05d}{suffix}` in `folder`, hash-partitioned and sorted by key.

    The shard count depends on the total, so it is joined to the items in LANES groups.
    """

    def __init__(
        self,
        folder: str,
        prefix: str,
        suffix: str,
        key: Callable[[object], str],
        encode: Callable[[list], bytes],
        rows_per_shard: int,
    ):
        super().__init__()
        self.folder, self.prefix, self.suffix = folder, prefix, suffix
        self.key, self.encode, self.rows_per_shard = key, encode, rows_per_shard

    def expand(self, items):
        per_shard = self.rows_per_shard
        shard_count = (
            items
            | "Count" >> beam.CombineGlobally(beam.combiners.CountCombineFn()).without_defaults()
            | "Shards" >> beam.Map(lambda n: max(1, math.ceil(n / per_shard)))
            | "ToLanes" >> beam.FlatMap(lambda n: [(lane, n) for lane in range(LANES)])
        )
        laned = items | "Lane" >> beam.Map(lambda e, key=self.key: (bucket(key(e), LANES), e))
        return (
            {"shards": shard_count, "items": laned}
            | "Join" >> beam.CoGroupByKey()
            | "Assign" >> beam.FlatMap(_assign, key=self.key)
            | "Group" >> beam.GroupByKey()
            | "Write"
            >> beam.Map(_ShardWriter(self.folder, self.prefix, self.suffix, self.key, self.encode))
        )


def _assign(joined: tuple[int, dict], key: Callable[[object], str]):
    """(shard index, item) for each item of a lane; every lane holds the one shard count."""
    _, lane = joined
    for n in lane["shards"]:
        for item in lane["items"]:
            yield bucket(key(item), n), item


class _ShardWriter:
    """The per-shard step, a plain callable: it pickles without its enclosing PTransform."""

    def __init__(self, folder: str, prefix: str, suffix: str, key: Callable, encode: Callable):
        self.folder, self.prefix, self.suffix = folder, prefix, suffix
        self.key, self.encode = key, encode

    def __call__(self, shard: tuple[int, Iterable]) -> ShardEntry:
        index, items = shard
        ordered = sorted(items, key=self.key)
        data = self.encode(ordered)
        name = f"{self.prefix}-{index:05d}{self.suffix}"
        _write_bytes(posixpath.join(self.folder, name), data)
        return ShardEntry.of(name, len(ordered), data)


def bucket(key: str, n: int) -> int:
    """A stable shard index (Python's hash() differs between processes)."""
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") % n


def nest_counts(flat: list[tuple[tuple[str, str], int]]) -> dict:
    """[((group, name), n)] -> {"rows": total, group: {name: n}} with sorted keys."""
    nested: dict[str, dict[str, int]] = {}
    for (group, name), n in sorted(flat):
        nested.setdefault(group, {})[name] = n
    accounted = balance(nested)
    totals = {"rows": sum(nested.get("by_split", {}).values()), **nested}
    return totals | ({"balance": accounted} if accounted else {})


def pair_key(row: dict) -> str:
    """A pair row's identity: the order inside shards, and of the near dedupe's comparisons."""
    return row["pair_id"]


def pair_order(row: dict) -> tuple[str, str]:
    """Which of the rows under one id a dedupe keeps: they differ only in `meta` (two captures
    of one page: record id, date), so the id, then the meta, is a total order."""
    return row["pair_id"], row["meta"]


def _encode_jsonl(letters: list[DeadLetter]) -> bytes:
    return "".join(d.to_json() + "\n" for d in letters).encode("utf-8")


def _write_bytes(path: str, data: bytes) -> None:
    with FileSystems.create(path, compression_type="uncompressed") as handle:
        handle.write(data)


class _Finish:
    """Write the manifest into staging, then publish: rename the folder (local) or the files."""

    def __init__(self, output: str, staging: str, kind: str, inputs: list[str], config: dict):
        self.output, self.staging = output, staging
        self.kind, self.inputs, self.config = kind, inputs, config

    def __call__(self, written: dict[str, list]) -> str:
        manifest = Manifest(
            kind=self.kind,
            inputs=self.inputs,
            config=self.config,
            code_version=__version__,
            counts=nest_counts(written["counts"]),
            shards=sorted(written["shards"], key=lambda s: s.path),
            dead_letters=sorted(written["dead"], key=lambda s: s.path),
            created=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        _write_bytes(posixpath.join(self.staging, MANIFEST_NAME), manifest.to_json().encode())
        publish(
            self.staging, self.output, [s.path for s in manifest.shards + manifest.dead_letters]
        )
        return self.output


def publish(staging: str, output: str, names: list[str]) -> None:
    """Local: one atomic folder rename. Object stores: data files first, the manifest last.

    A retried publish (the runner re-running this step) finds staging gone and does nothing.
    """
    if not FileSystems.exists(staging) and FileSystems.exists(
        posixpath.join(output, MANIFEST_NAME)
    ):
        return
    if is_local(output):
        publish_dir(Path(staging), Path(output), replace=False)  # a twin's finished one stays
        shutil.rmtree(staging, ignore_errors=True)
        return
    sources = [posixpath.join(staging, n) for n in [*names, MANIFEST_NAME]]
    targets = [posixpath.join(output, n) for n in [*names, MANIFEST_NAME]]
    FileSystems.rename(sources[:-1], targets[:-1])
    FileSystems.rename(sources[-1:], targets[-1:])
    FileSystems.delete([staging])


def read_manifest(output: str) -> Manifest:
    with FileSystems.open(posixpath.join(output, MANIFEST_NAME)) as handle:
        return Manifest.from_json(handle.read().decode("utf-8"))


def discard(staging: str) -> None:
    """After a failed run: remove what it staged (best effort; it is hidden anyway)."""
    if FileSystems.exists(staging):
        FileSystems.delete([staging])
