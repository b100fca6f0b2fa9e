"""Search tasks: BEIR-style retrieval, CoSQA, and the CodeSearchNet 1-in-1000 protocol.

A search set is (queries, corpus, qrels); any retriever ranks the corpus for every query and
the metrics come from `ranking`. The quick profile ranks against a fixed-seed sample: every
sampled query's relevant documents plus random distractors, which keeps the task's difficulty
close to the full corpus's at a fraction of the embedding cost.
"""

from __future__ import annotations

import numpy as np

from cpt_core.data.beir import BeirSet
from cpt_core.eval.ranking import mrr_at_k, ndcg_at_k, recall_at_k
from cpt_core.eval.retrievers import Retriever

CURVE_KS = (1, 2, 5, 10, 20, 50, 100)
DEPTH = 1000


def evaluate_search(retriever: Retriever, data: BeirSet) -> dict:
    """nDCG@10, MRR@10, MRR (within the top 1000), and recall@k for the curve's k."""
    qids = sorted(data.qrels)
    doc_ids = sorted(data.corpus)
    found = retriever.search(
        [data.queries[q] for q in qids], [data.corpus[d] for d in doc_ids], DEPTH
    )
    ranked = [[doc_ids[i] for i in row] for row in found]
    graded = [data.qrels[q] for q in qids]
    relevant = [set(g) for g in graded]
    return {
        "ndcg@10": 100 * ndcg_at_k(ranked, graded, 10),
        "mrr@10": 100 * mrr_at_k(ranked, relevant, 10),
        "mrr": 100 * mrr_at_k(ranked, relevant, DEPTH),
        "recall": {str(k): 100 * recall_at_k(ranked, relevant, k) for k in CURVE_KS},
        "queries": len(qids),
        "documents": len(doc_ids),
    }


def sample_search(data: BeirSet, queries: int | None, documents: int | None, seed: int) -> BeirSet:
    """At most `queries` queries, ranked against their relevant documents plus distractors up to
    `documents` in all (None keeps everything)."""
    rng = np.random.default_rng(seed)
    qids = sorted(data.qrels)
    if queries is not None and queries < len(qids):
        qids = sorted(rng.choice(qids, size=queries, replace=False).tolist())
    qrels = {q: data.qrels[q] for q in qids}
    corpus = data.corpus
    if documents is not None and documents < len(corpus):
        relevant = sorted({d for q in qids for d in qrels[q]})
        others = sorted(set(corpus) - set(relevant))
        extra = max(0, documents - len(relevant))
        chosen = relevant + rng.choice(others, size=min(extra, len(others)), replace=False).tolist()
        corpus = {d: corpus[d] for d in chosen}
    return BeirSet(corpus, {q: data.queries[q] for q in qids}, qrels)


def csn_groups(size: int, candidates: int, max_groups: int | None, seed: int) -> list[np.ndarray]:
    """CodeSearchNet's groups: the pairs shuffled and cut into groups of `candidates` (or one
    group of all, for a smaller set); a last partial group is left out, as CodeSearchNet does."""
    order = np.random.default_rng(seed).permutation(size)
    width = min(candidates, size)
    groups = [order[s : s + width] for s in range(0, size - width + 1, width)]
    return groups[:max_groups] if max_groups is not None else groups


def codesearchnet(
    retriever: Retriever,
    pairs: list[tuple[str, str]],
    candidates: int,
    max_groups: int | None,
    seed: int,
    queries_per_group: int | None = None,
) -> dict:
    """CodeSearchNet's protocol: each query ranks its own function among its group's others.
    `queries_per_group` asks only that many of a group's queries, still against all of its
    functions, so a smaller evaluation keeps the protocol's 1-in-`candidates` difficulty."""
    groups = csn_groups(len(pairs), candidates, max_groups, seed)
    results = []
    for group in groups:
        chosen = [pairs[i] for i in group]
        asked = chosen[:queries_per_group] if queries_per_group else chosen
        data = BeirSet(
            corpus={f"{n:06d}": y for n, (_, y) in enumerate(chosen)},
            queries={f"{n:06d}": x for n, (x, _) in enumerate(asked)},
            qrels={f"{n:06d}": {f"{n:06d}": 1} for n in range(len(asked))},
        )
        results.append(evaluate_search(retriever, data))
    scored = sum(r["queries"] for r in results)
    mean = {k: sum(r[k] * r["queries"] for r in results) / scored for k in ("mrr", "mrr@10")}
    recall = {
        str(k): sum(r["recall"][str(k)] * r["queries"] for r in results) / scored for k in CURVE_KS
    }
    size = len(groups[0]) if groups else 0
    return {**mean, "recall": recall, "queries": scored, "candidates": size, "groups": len(groups)}
