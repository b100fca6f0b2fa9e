"""`cpt index build`: embed a corpus with a model and write a FAISS index folder.

The folder holds index.faiss, ids.parquet (row -> id, text) and meta.json (model, its
identity, dimension, metric, index kind, corpus identity, recall@10 against exact search).
Texts are read once, in blocks; each block is embedded in length-sorted batches, its vectors
appended to a file that is memory-mapped for the index build, and its ids and texts appended to
ids.parquet, so neither the texts nor (beyond what FAISS holds) the vectors stay in memory. The
folder is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import faiss
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from cpt_core.errors import CptError
from cpt_core.index.corpus import corpus_files, corpus_identity, read_corpus
from cpt_core.index.faiss_index import Kind, choose_kind, make_index, recall_against_exact
from cpt_core.index.meta import IndexMeta
from cpt_core.model.encoders import TextEncoder, load_encoder
from cpt_core.model.widths import checked_width, narrowed
from cpt_core.staging import atomic_dir


def build_index(
    corpus: str | Path,
    model: str,
    out: Path,
    kind: Kind = "auto",
    max_length: int | None = None,
    batch_size: int = 32,
    dtype: str = "auto",
    encoder: TextEncoder | None = None,
    dim: int | None = None,
) -> IndexMeta:
    """`encoder`: `model` already loaded (with `max_length`), where the caller measured it.
    `dim`: one of a Matryoshka-trained model's widths, for a smaller index (None: full)."""
    files = corpus_files(corpus)
    encoder = encoder or load_encoder(model, max_length, batch_size, dtype)
    dim = checked_width(encoder.name, encoder.widths, dim)
    out = Path(out)
    with atomic_dir(out) as staging:
        return _build(files, encoder, staging, corpus, model, kind, max_length, dim)


def _build(
    files: list[Path],
    encoder: TextEncoder,
    staging: Path,
    corpus: str | Path,
    model: str,
    kind: Kind,
    max_length: int | None,
    width: int | None,
) -> IndexMeta:
    rows, dim, seen = 0, 0, set()
    table = pa.schema([("id", pa.string()), ("text", pa.string())])
    with (
        (staging / "vectors.f32").open("wb") as sink,
        pq.ParquetWriter(staging / "ids.parquet", table) as ids,
        tqdm(desc="embedding corpus", unit="doc") as bar,
    ):
        for block in read_corpus(files):
            block_ids, block_texts = zip(*block, strict=True)
            vectors = encoder.encode(list(block_texts), "document").astype(np.float32)
            vectors = narrowed(vectors, width)
            sink.write(vectors.tobytes())
            ids.write_table(pa.table({"id": block_ids, "text": block_texts}, schema=table))
            seen.update(block_ids)
            rows, dim = rows + len(block), vectors.shape[1]
            bar.update(len(block))
    if rows == 0:
        raise CptError(f"corpus {corpus} is empty: nothing to index")
    if len(seen) != rows:
        raise CptError(f"corpus {corpus} repeats {rows - len(seen)} ids; ids must be unique")
    vectors = np.memmap(staging / "vectors.f32", dtype=np.float32, mode="r", shape=(rows, dim))
    chosen = choose_kind(rows, kind)
    index = make_index(vectors, chosen)
    meta = IndexMeta(
        model=model,
        model_identity=encoder.space,
        model_dtype=encoder.dtype,
        dimension=dim,
        metric="inner_product",
        kind=chosen,
        count=rows,
        corpus=str(corpus),
        corpus_identity=corpus_identity(corpus, files),
        recall_at_10=1.0 if chosen == "flat" else recall_against_exact(index, vectors),
        max_length=max_length,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    faiss.write_index(index, str(staging / "index.faiss"))
    (staging / "meta.json").write_text(json.dumps(meta.model_dump(), indent=2) + "\n")
    del vectors
    (staging / "vectors.f32").unlink()
    return meta
