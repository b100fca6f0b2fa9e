"""Read a corpus to index as (id, text) batches, streaming, from Parquet or JSONL.

Accepted shapes: cpt pair shards (the document side `y`, keyed by `pair_id`), and any table or
JSONL with an id (`_id` or `id`) and `text` (plus an optional `title`, joined as BEIR models
embed it). The corpus's identity is its manifest's when it has one (a cpt dataset), else a
hash of its files' bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from cpt_core.data.beir import join_title
from cpt_core.data.jsonl import read_jsonl
from cpt_core.data.manifest import MANIFEST_NAME, Manifest
from cpt_core.data.reader import resolve_shards
from cpt_core.errors import CptError
from cpt_core.pretrained.digest import file_digest

Batch = list[tuple[str, str]]


def corpus_files(spec: str | Path) -> list[Path]:
    path = Path(spec)
    if path.is_file() and path.name.endswith((".jsonl", ".jsonl.gz")):
        return [path]
    return resolve_shards(spec)


def corpus_identity(spec: str | Path, files: list[Path]) -> str:
    folder = Path(spec)
    if folder.is_dir() and (folder / MANIFEST_NAME).is_file():
        return Manifest.read(folder).identity()
    digest = hashlib.sha256()
    for file in files:
        digest.update(file_digest(file).encode())
    return digest.hexdigest()[:16]


def read_corpus(files: list[Path], batch_rows: int = 4096) -> Iterator[Batch]:
    for file in files:
        if file.suffix == ".parquet":
            yield from _parquet(file, batch_rows)
        else:
            yield from _jsonl(file, batch_rows)


def _parquet(file: Path, batch_rows: int) -> Iterator[Batch]:
    try:
        source = pq.ParquetFile(file)
        names = set(source.schema_arrow.names)
        columns = _columns(names, file)
        for batch in source.iter_batches(batch_size=batch_rows, columns=columns):
            yield [_row(row) for row in batch.to_pylist()]
    except (pa.ArrowInvalid, OSError) as exc:
        raise CptError(f"{file}: not a readable Parquet file ({str(exc).splitlines()[0]})") from exc


def _columns(names: set[str], file: Path) -> list[str]:
    if {"pair_id", "y"} <= names:
        return ["pair_id", "y"]
    key = next((k for k in ("_id", "id") if k in names), None)
    if key is None or "text" not in names:
        raise CptError(f"{file}: a corpus needs pair_id + y, or _id/id + text columns")
    return [key, "text"] + (["title"] if "title" in names else [])


def _row(row: dict) -> tuple[str, str]:
    if "pair_id" in row:
        return str(row["pair_id"]), row["y"] or ""
    key = row.get("_id", row.get("id"))
    return str(key), join_title(row.get("title") or "", row.get("text") or "")


def _jsonl(file: Path, batch_rows: int) -> Iterator[Batch]:
    batch: Batch = []
    for n, row in read_jsonl(file):
        if "text" not in row or not {"_id", "id"} & set(row):
            raise CptError(f"{file}:{n}: each line needs _id (or id) and text")
        batch.append(_row(row))
        if len(batch) == batch_rows:
            yield batch
            batch = []
    if batch:
        yield batch
