"""Exact cosine ranking and the ranking metrics, computed once and tested by hand.

Untrained decoders give nearly parallel embeddings, so exact float ties happen: ties are
broken by document order (a stable sort), which makes every figure reproducible.
"""

from __future__ import annotations

import math

import numpy as np


def rank(queries: np.ndarray, documents: np.ndarray, k: int) -> np.ndarray:
    """Indices of the top-k documents per query by dot product (cosine for unit vectors)."""
    scores = queries @ documents.T
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def mrr_at_k(ranked: list[list[str]], relevant: list[set[str]], k: int = 10) -> float:
    total = 0.0
    for ids, rel in zip(ranked, relevant, strict=True):
        total += next((1.0 / (i + 1) for i, d in enumerate(ids[:k]) if d in rel), 0.0)
    return total / len(ranked)


def recall_at_k(ranked: list[list[str]], relevant: list[set[str]], k: int = 10) -> float:
    return sum(
        len(set(ids[:k]) & rel) / len(rel) for ids, rel in zip(ranked, relevant, strict=True)
    ) / len(ranked)


def ndcg_at_k(ranked: list[list[str]], graded: list[dict[str, int]], k: int = 10) -> float:
    """nDCG@k with linear gain, as trec_eval computes it."""
    total = 0.0
    for ids, gains in zip(ranked, graded, strict=True):
        dcg = sum(gains.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ids[:k]))
        ideal = sorted(gains.values(), reverse=True)[:k]
        idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
        total += dcg / idcg if idcg else 0.0
    return total / len(ranked)
