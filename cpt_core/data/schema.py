"""The one pair schema shared by the text and code miners and read by the trainer.

A shard is a Parquet file of rows (x, y): x is the query side (a passage, a docstring), y the
document side (the next passage, the code). The miners fill every column; the trainer needs
only x and y (and `negatives` for hard-negative fine-tuning), so readers check just those.
"""

from __future__ import annotations

import hashlib
import json

import pyarrow as pa

SCHEMA_VERSION = 1

PAIR_SCHEMA = pa.schema(
    [
        pa.field("pair_id", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),  # "text" | "code"
        pa.field("x", pa.string(), nullable=False),
        pa.field("y", pa.string(), nullable=False),
        pa.field("language", pa.string()),
        pa.field("source", pa.string()),
        pa.field("split", pa.string(), nullable=False),  # "train" | "valid" | "test"
        pa.field("meta", pa.string()),  # JSON object, kind-specific
        pa.field("negatives", pa.list_(pa.string())),
    ]
)

TRAINING_COLUMNS = ("x", "y")


def pair_id(kind: str, source: str, x: str, y: str) -> str:
    """Stable identity of a pair: the key for dedupe, splits and resumable positions."""
    digest = hashlib.sha256()
    for part in (kind, source, x, y):
        digest.update(part.encode("utf-8"))
        digest.update(b"\x00")
    return digest.hexdigest()[:24]


def english_text_pair(
    source: str, x: str, y: str, split: str, meta: dict, negatives: list[str] | None = None
) -> dict:
    """A PAIR_SCHEMA row for a supervised English text pair (BEIR qrels, NLI, triplets)."""
    return {
        "pair_id": pair_id("text", source, x, y),
        "kind": "text",
        "x": x,
        "y": y,
        "language": "en",
        "source": source,
        "split": split,
        "meta": json.dumps(meta),
        "negatives": negatives,
    }
