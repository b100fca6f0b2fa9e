"""Stream training pairs from Parquet shards without holding the dataset in memory.

Shuffling is two-level and deterministic in the seed: each epoch visits the row groups of all
shards in a seeded random order, and the rows of a row group in a seeded random order. Only one
row group is in memory at a time. A `Position` (epoch, row group cursor, row cursor) is all
a checkpoint needs to continue exactly where it stopped.
"""

from __future__ import annotations

import glob
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cpt_core.data.manifest import MANIFEST_NAME, Manifest
from cpt_core.errors import CptError


@dataclass(frozen=True)
class Pair:
    x: str
    y: str
    negatives: tuple[str, ...] = ()


@dataclass(frozen=True)
class Position:
    epoch: int = 0
    group: int = 0  # index into this epoch's permuted row groups
    row: int = 0  # rows of that group already consumed


@dataclass(frozen=True)
class _Group:
    file: Path
    index: int


def resolve_shards(spec: str | Path) -> list[Path]:
    """A folder (its *.parquet, recursively), a glob, or one file; sorted for determinism."""
    path = Path(spec)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.parquet") if not _hidden(p, path))
    elif path.is_file():
        files = [path]
    else:
        files = sorted(Path(p) for p in glob.glob(str(spec), recursive=True))
    if not files:
        raise CptError(f"no Parquet shards match '{spec}'")
    return files


class PairSource:
    """Validated pair shards, read as an endless deterministic stream.

    Every file's schema is checked from its footer. Its rows are scanned up front too, unless
    the dataset's manifest vouches for the file (same name and size): cpt's writers check every
    row before they write it, so a corpus of many terabytes opens in seconds, on every rank.
    Rows are checked again as each row group is read, so nothing unchecked reaches a batch.
    """

    def __init__(self, spec: str | Path, *, negatives: int = 0, split: str | None = None):
        self.files = resolve_shards(spec)
        self.negatives = negatives
        self.split = split
        folders = sorted({f.parent for f in self.files})
        manifests = {folder: _manifest_of(folder) for folder in folders}
        vouched = {f for f in self.files if _vouches(manifests[f.parent], f)}
        self.groups = [g for f in self.files for g in self._check(f)]
        rows = sum(self._rows_of(g) for g in self.groups if g.file not in vouched)
        rows += sum(manifests[folder].rows_in(split) for folder in {f.parent for f in vouched})
        if not rows:
            where = f" in split '{split}'" if split else ""
            raise CptError(f"the shards at '{spec}' hold no pairs{where}")

    @property
    def columns(self) -> list[str]:
        cols = ["x", "y"] + (["negatives"] if self.negatives else [])
        return cols + (["split"] if self.split else [])

    def _check(self, file: Path) -> list[_Group]:
        """Schema checks from the footer, so bad data fails before any output exists."""
        try:
            meta = pq.ParquetFile(file)
        except (pa.ArrowInvalid, OSError) as exc:
            raise CptError(f"{file}: not a readable Parquet file ({exc})") from exc
        schema = meta.schema_arrow
        for name in self.columns:
            if name not in schema.names:
                raise CptError(f"{file}: missing column '{name}' (have {schema.names})")
            if schema.names.count(name) > 1:
                raise CptError(f"{file}: column '{name}' appears {schema.names.count(name)} times")
            want = pa.list_(pa.string()) if name == "negatives" else pa.string()
            if schema.field(name).type not in (want, pa.large_string()):
                got = schema.field(name).type
                raise CptError(f"{file}: column '{name}' has type {got}, expected {want}")
        return [_Group(file, index) for index in range(meta.num_row_groups)]

    def _rows_of(self, group: _Group) -> int:
        table = self._checked(group)
        if self.split:
            return int(pc.sum(pc.equal(table.column("split"), self.split)).as_py() or 0)
        return table.num_rows

    def _checked(self, group: _Group) -> pa.Table:
        """The group's columns, every row checked."""
        try:
            table = pq.ParquetFile(group.file).read_row_group(group.index, columns=self.columns)
        except (pa.ArrowException, OSError) as exc:  # a corrupt page fails only when read
            detail = str(exc).splitlines()[0]
            raise CptError(
                f"{group.file}: row group {group.index} is unreadable ({detail})"
            ) from exc
        where = f"{group.file}: row group {group.index}"
        for name in ("x", "y"):
            column = table.column(name)
            bad = pc.or_kleene(pc.is_null(column), pc.equal(pc.utf8_length(column), 0))
            if pc.any(bad).as_py():
                row = int(pc.index(bad, True).as_py())
                raise CptError(f"{where} row {row} has an empty '{name}'")
        if self.negatives:  # held-out rows are never trained on, so need none
            scope = table
            if self.split:
                scope = table.filter(pc.equal(table.column("split"), self.split))
            lengths = pc.list_value_length(scope.column("negatives"))
            short = pc.or_kleene(pc.is_null(lengths), pc.less(lengths, self.negatives))
            if pc.any(short).as_py():
                raise CptError(f"{where} has a pair with fewer than {self.negatives} negatives")
        return table

    def stream(self, seed: int, start: Position = Position()) -> Iterator[tuple[Pair, Position]]:
        """Yield (pair, position after it) forever, epoch after epoch, from `start`."""
        epoch, group_cursor, row_cursor = start.epoch, start.group, start.row
        while True:
            order = np.random.default_rng([seed, epoch]).permutation(len(self.groups))
            for cursor in range(group_cursor, len(order)):
                group = self.groups[order[cursor]]
                rows = self._read(group)
                perm = np.random.default_rng([seed, epoch, int(order[cursor])]).permutation(
                    len(rows)
                )
                for r in range(row_cursor, len(perm)):
                    yield rows[perm[r]], Position(epoch, cursor, r + 1)
                row_cursor = 0
            epoch, group_cursor = epoch + 1, 0

    def _read(self, group: _Group) -> list[Pair]:
        table = self._checked(group)
        if self.split:
            table = table.filter(pc.equal(table.column("split"), self.split))
        xs, ys = table.column("x").to_pylist(), table.column("y").to_pylist()
        negs = table.column("negatives").to_pylist() if self.negatives else [()] * len(xs)
        k = self.negatives
        return [Pair(x, y, tuple(n[:k])) for x, y, n in zip(xs, ys, negs, strict=True)]


def _manifest_of(folder: Path) -> Manifest | None:
    """The folder's manifest, if it has a readable one (a damaged one vouches for nothing)."""
    if not (folder / MANIFEST_NAME).is_file():
        return None
    try:
        return Manifest.read(folder)
    except CptError:
        return None


def _vouches(manifest: Manifest | None, file: Path) -> bool:
    return manifest is not None and manifest.vouches(file.name, file.stat().st_size)


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)
