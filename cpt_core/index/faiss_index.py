"""FAISS index types and the rule that picks one, plus measuring an index against exact search.

Inner product on unit vectors is cosine. Below `EXACT_UP_TO` vectors an exact flat index is
both fast enough and perfect; above it HNSW (no training, high recall, ~1.2x the vectors'
memory) up to `HNSW_UP_TO`, then IVF-PQ (trained on a sample, compressed 16-64x) for corpora
whose vectors no longer fit in memory comfortably.
"""

from __future__ import annotations

from typing import Literal

import faiss
import numpy as np

from cpt_core.errors import CptError

Kind = Literal["auto", "flat", "hnsw", "ivfpq"]
EXACT_UP_TO = 100_000
HNSW_UP_TO = 5_000_000
TRAIN_SAMPLE = 100_000
IVFPQ_MIN = 256 * 39  # FAISS's rule of thumb: 39 training points per centroid of the 8-bit codes


def choose_kind(count: int, kind: Kind = "auto") -> str:
    if kind != "auto":
        return kind
    return "flat" if count < EXACT_UP_TO else "hnsw" if count < HNSW_UP_TO else "ivfpq"


def make_index(vectors: np.ndarray, kind: str, seed: int = 0) -> faiss.Index:
    """Build (and train where needed) an inner-product index holding `vectors`."""
    count, dim = vectors.shape
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        index.hnsw.efSearch = 128
    elif kind == "ivfpq":
        if count < IVFPQ_MIN:
            raise CptError(f"IVF-PQ needs at least {IVFPQ_MIN:,} vectors to train, not {count:,}")
        sample = np.random.default_rng(seed).permutation(count)[:TRAIN_SAMPLE]
        lists = max(1, min(int(4 * np.sqrt(count)), len(sample) // 39))  # 39 points per centroid
        subquantizers = next(m for m in (64, 48, 32, 24, 16, 12, 8, 4, 2, 1) if dim % m == 0)
        index = faiss.IndexIVFPQ(
            faiss.IndexFlatIP(dim), dim, lists, subquantizers, 8, faiss.METRIC_INNER_PRODUCT
        )
        index.train(np.ascontiguousarray(vectors[np.sort(sample)]))
        index.nprobe = min(lists, 32)
    else:
        raise ValueError(f"unknown index kind {kind}")
    for start in range(0, count, 65536):
        index.add(np.ascontiguousarray(vectors[start : start + 65536]))
    return index


def recall_against_exact(
    index: faiss.Index, vectors: np.ndarray, sample: int = 500, k: int = 10, seed: int = 0
) -> float:
    """Recall@k of `index` against exact search, for a held-out sample of the corpus's own
    vectors used as queries: each query's own row is removed from both answers, so what is
    measured is finding its neighbours, not finding itself."""
    rows = np.sort(np.random.default_rng(seed).permutation(len(vectors))[:sample])
    queries = np.ascontiguousarray(vectors[rows])
    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(np.ascontiguousarray(vectors))
    depth = min(k + 1, len(vectors))
    _, truth = exact.search(queries, depth)
    _, found = index.search(queries, depth)
    hits = total = 0
    for row, t, f in zip(rows, truth, found, strict=True):
        wanted = [i for i in t if i != row][:k]
        hits += len(set(wanted) & set([i for i in f if i != row][:k]))
        total += len(wanted)
    return hits / total if total else 1.0
