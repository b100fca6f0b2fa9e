"""Hard negatives for a dataset's training pairs: sample the queries, gather the documents
they search, score candidates (candidates.py), keep the good ones (select.py), and fill any
query left short with random documents, counted, so every pair of round 2 has `count`.

Documents are pooled by normalised text, so a positive's exact duplicates are the positive
itself and can never come back as its negative.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

from cpt_core.dedup.minhash import exact_key
from cpt_core.errors import CptError
from cpt_core.model.encoders import TextEncoder
from cpt_core.negatives.candidates import Candidates, bm25_candidates, dense_candidates
from cpt_core.negatives.config import HardNegativesConfig
from cpt_core.negatives.select import choose


class Pool:
    """The distinct documents searched: the asked pairs' positives first, then others in a
    seeded order up to `size`."""

    def __init__(self, rows: list[dict], asked: list[int], order: np.ndarray, size: int | None):
        self.keys = [exact_key(r["y"]) for r in rows]
        self.index: dict[str, int] = {}
        self.documents: list[str] = []
        for i in asked:
            self._add(rows, i)
        for i in order.tolist():
            if size is not None and len(self.documents) >= size:
                break
            self._add(rows, i)

    def _add(self, rows: list[dict], i: int) -> None:
        if self.keys[i] not in self.index:
            self.index[self.keys[i]] = len(self.documents)
            self.documents.append(rows[i]["y"])

    def positives(self, rows: list[dict], asked: list[int]) -> list[set[int]]:
        """Per asked pair, every pooled document paired anywhere with the same query text."""
        by_query: dict[str, set[int]] = defaultdict(set)
        for row, key in zip(rows, self.keys, strict=True):
            if key in self.index:
                by_query[exact_key(row["x"])].add(self.index[key])
        return [by_query[exact_key(rows[i]["x"])] for i in asked]


def mine_negatives(
    rows: list[dict], config: HardNegativesConfig, encoder: TextEncoder | None
) -> tuple[list[dict], Counter]:
    """`rows` (PAIR_SCHEMA dicts of one split) with `negatives` filled, and what happened, by
    name. `encoder` searches when the retriever is the model; BM25 needs none."""
    rng = np.random.default_rng(config.seed)
    order = rng.permutation(len(rows))
    asked = sorted(order[: config.queries].tolist()) if config.queries else list(range(len(rows)))
    pool = Pool(rows, asked, order, config.pool)
    own = pool.positives(rows, asked)
    positives = [pool.index[pool.keys[i]] for i in asked]
    queries = [rows[i]["x"] for i in asked]
    found = _search(config, encoder, queries, pool.documents, positives)
    chosen = choose(found.ids, found.scores, found.positive, own, config.count, config.margin)
    counts = Counter(
        {
            "queries": len(asked),
            "pairs_not_sampled": len(rows) - len(asked),  # left out of round 2 by `queries`
            "pool_documents": len(pool.documents),
        }
    )
    counts.update(chosen.counts)
    mined = []
    for i, kept, close, positive in zip(
        asked, chosen.negatives, chosen.too_close, own, strict=True
    ):
        refused = positive | close | set(kept)  # a likely positive is no random negative either
        others = _random(rng, len(pool.documents), refused, config.count - len(kept))
        if others is None:
            counts["pairs_without_negatives"] += 1  # a pool too small to fill them
            continue
        counts["negatives_mined"] += len(kept)
        counts["negatives_random"] += len(others)
        mined.append(rows[i] | {"negatives": [pool.documents[j] for j in (*kept, *others)]})
    return mined, counts


def _random(rng: np.random.Generator, size: int, refused: set[int], short: int) -> list[int] | None:
    """`short` distinct pooled documents outside `refused`, or None if the pool has too few."""
    if size - len(refused) < short:
        return None
    picked: list[int] = []
    while len(picked) < short:
        j = int(rng.integers(size))
        if j not in refused and j not in picked:
            picked.append(j)
    return picked


def _search(
    config: HardNegativesConfig,
    encoder: TextEncoder | None,
    queries: list[str],
    documents: list[str],
    positives: list[int],
) -> Candidates:
    if config.retriever == "bm25":
        return bm25_candidates(queries, documents, positives, config.depth)
    if encoder is None:
        raise CptError("hard negatives from a model need that model (or retriever: bm25)")
    return dense_candidates(encoder, queries, documents, positives, config.depth)
