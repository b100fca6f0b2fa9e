"""Embeddings cached by (model identity, side, text hash), so re-evaluating a model is free.

One SQLite file per model identity under $CPT_HOME/embeddings: lookups are by primary key, a
half-finished evaluation keeps what it computed, and nothing depends on the order or the set of
texts a task asks for (a quick run's vectors serve the full run too).
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import numpy as np

from cpt_core.model.delimiters import Side
from cpt_core.model.encoders import TextEncoder
from cpt_core.pretrained.cache import cache_root

_CHUNK = 500  # keys per SELECT, under SQLite's variable limit


class CachedEncoder:
    """Wraps a TextEncoder; only texts never embedded by this identity reach the model."""

    def __init__(self, encoder: TextEncoder, root: Path | None = None):
        self.encoder = encoder
        self.name = encoder.name
        self.identity = encoder.identity
        folder = root or cache_root() / "embeddings"
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{encoder.identity[:32]}.sqlite"
        self.hits = self.misses = 0
        with self._connect() as db:
            db.execute("CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, vector BLOB)")

    def encode(self, texts: list[str], side: Side) -> np.ndarray:
        keys = [_key(side, text) for text in texts]
        found = self._lookup(sorted(set(keys)))
        missing = {k: t for k, t in zip(keys, texts, strict=True) if k not in found}
        self.hits += len(texts) - sum(k in missing for k in keys)
        self.misses += len(missing)
        if missing:
            vectors = self.encoder.encode(list(missing.values()), side)
            fresh = dict(zip(missing, vectors, strict=True))
            with self._connect() as db:
                db.executemany(
                    "INSERT OR REPLACE INTO vectors VALUES (?, ?)",
                    [(k, v.astype(np.float32).tobytes()) for k, v in fresh.items()],
                )
            found.update(fresh)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([found[k] for k in keys]).astype(np.float32, copy=False)

    def _lookup(self, keys: list[bytes]) -> dict[bytes, np.ndarray]:
        found: dict[bytes, np.ndarray] = {}
        with self._connect() as db:
            for start in range(0, len(keys), _CHUNK):
                chunk = keys[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                query = f"SELECT key, vector FROM vectors WHERE key IN ({marks})"
                for key, blob in db.execute(query, chunk):
                    found[key] = np.frombuffer(blob, dtype=np.float32)
        return found

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=60)


def _key(side: str, text: str) -> bytes:
    return hashlib.blake2b(f"{side}\0{text}".encode(), digest_size=16).digest()
