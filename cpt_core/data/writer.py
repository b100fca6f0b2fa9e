"""Write pair rows as size-bounded Parquet shards plus a manifest, atomically.

Everything is written into a hidden sibling folder that is renamed into place only after the
manifest is written, so a crash leaves no folder that looks like a complete dataset.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from cpt_core import __version__
from cpt_core.data.manifest import Manifest, ShardEntry
from cpt_core.data.schema import PAIR_SCHEMA
from cpt_core.errors import CptError
from cpt_core.staging import atomic_dir

ROWS_PER_SHARD = 100_000
ROW_GROUP_ROWS = 8_192  # the trainer shuffles within a row group: keep them modest


def write_dataset(
    rows: Iterable[dict],
    folder: str | Path,
    *,
    kind: str,
    inputs: list[str],
    config: dict,
    extra_counts: dict | None = None,
    rows_per_shard: int = ROWS_PER_SHARD,
) -> Manifest:
    """Write `rows` (dicts with PAIR_SCHEMA's columns) to `folder`; refuse to overwrite one."""
    folder = Path(folder)
    if folder.exists():
        raise CptError(f"output {folder} already exists; remove it or choose another path")
    with atomic_dir(folder, replace=False) as staging:
        shards, by_split, by_language = _write_shards(rows, staging, rows_per_shard)
        if not shards:
            raise CptError(f"no pairs to write to {folder}: the input produced none")
        counts = {
            "rows": sum(s.rows for s in shards),
            "by_split": dict(sorted(by_split.items())),
            "by_language": dict(sorted(by_language.items())),
            **(extra_counts or {}),
        }
        manifest = Manifest(
            kind=kind,
            inputs=inputs,
            config=config,
            code_version=__version__,
            counts=counts,
            shards=shards,
            created=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        manifest.write(staging)
    return manifest


def shard_name(index: int) -> str:
    return f"pairs-{index:05d}.parquet"


def encode_shard(rows: list[dict]) -> bytes:
    """One Parquet shard's bytes; the same rows in the same order always give the same bytes.

    Every row is checked here, by both writers (this module and the Beam jobs), so that a
    manifest listing the shard vouches for its rows and the trainer need not scan them again.
    """
    for row in rows:
        for side in ("x", "y"):
            if not isinstance(row.get(side), str) or not row[side]:
                raise CptError(f"refusing to write a pair with an empty '{side}': {row}"[:300])
    sink = pa.BufferOutputStream()
    table = pa.Table.from_pylist(rows, schema=PAIR_SCHEMA)
    pq.write_table(table, sink, row_group_size=ROW_GROUP_ROWS, compression="zstd")
    return sink.getvalue().to_pybytes()


def _write_shards(
    rows: Iterable[dict], staging: Path, rows_per_shard: int
) -> tuple[list[ShardEntry], Counter, Counter]:
    shards: list[ShardEntry] = []
    by_split: Counter = Counter()
    by_language: Counter = Counter()
    buffer: list[dict] = []

    def flush() -> None:
        name = shard_name(len(shards))
        data = encode_shard(buffer)
        (staging / name).write_bytes(data)
        shards.append(ShardEntry.of(name, len(buffer), data))
        buffer.clear()

    for row in rows:
        buffer.append(row)
        by_split[row["split"]] += 1
        by_language[row.get("language") or "unknown"] += 1
        if len(buffer) >= rows_per_shard:
            flush()
    if buffer:
        flush()
    return shards, by_split, by_language
