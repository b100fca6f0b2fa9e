"""Which searched candidates become a query's hard negatives: a pure function, tested alone.

A candidate is refused when it is one of the query's positives (its own document, a document
whose normalised text equals it, or another document paired with the same query text), and
when it scores within `1 - margin` of the positive's score, relative to its magnitude (a likely
unlabelled positive; sentence-transformers' `relative_margin`, which holds for a positive that
scores below zero too). The best `count` of the rest are kept, highest score first.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Chosen:
    negatives: list[list[int]]  # per query, document indices, best first (may be short)
    too_close: list[set[int]] = field(default_factory=list)  # per query, refused by the margin
    counts: Counter = field(default_factory=Counter)  # why candidates were refused


def choose(
    ids: np.ndarray,
    scores: np.ndarray,
    positive_scores: np.ndarray,
    positives: list[set[int]],
    count: int,
    margin: float,
) -> Chosen:
    """ids, scores: [queries, depth] candidates best first (-1 where there are fewer);
    positive_scores: [queries]; positives: per query, every document index that counts as its
    positive (the positive itself, its duplicates, the query's other documents)."""
    chosen = Chosen([], [])
    for row, row_scores, positive, own in zip(ids, scores, positive_scores, positives, strict=True):
        kept: list[int] = []
        close: set[int] = set()
        ceiling = positive - (1 - margin) * abs(positive)
        for candidate, score in zip(row.tolist(), row_scores.tolist(), strict=True):
            if len(kept) == count:
                break
            if candidate < 0:
                continue
            if candidate in own:
                chosen.counts["negatives_refused_positive"] += 1
            elif score > ceiling:
                chosen.counts["negatives_refused_margin"] += 1
                close.add(candidate)
            else:
                kept.append(candidate)
        chosen.negatives.append(kept)
        chosen.too_close.append(close)
    return chosen
