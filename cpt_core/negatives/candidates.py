"""Each query's best-scoring documents, with scores, and its positive's score: the two things
the margin filter compares. Dense search is exact (a flat FAISS inner-product index over
normalised vectors, so scores are cosines); BM25 is the eval suite's BM25 (same settings)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import faiss
import numpy as np

from cpt_core.eval.retrievers import BM25Retriever
from cpt_core.model.encoders import TextEncoder

log = logging.getLogger(__name__)


@dataclass
class Candidates:
    ids: np.ndarray  # [queries, depth] document indices, best first; -1 where there are fewer
    scores: np.ndarray  # [queries, depth]
    positive: np.ndarray  # [queries] each query's score for its own positive document


def dense_candidates(
    encoder: TextEncoder, queries: list[str], documents: list[str], positives: list[int], depth: int
) -> Candidates:
    """Queries embedded on the query side, documents on the document side, as at training."""
    log.info("hard negatives: embedding %d documents and %d queries", len(documents), len(queries))
    document_vectors = np.ascontiguousarray(encoder.encode(documents, "document"), np.float32)
    query_vectors = np.ascontiguousarray(encoder.encode(queries, "query"), np.float32)
    index = faiss.IndexFlatIP(document_vectors.shape[1])
    index.add(document_vectors)
    scores, ids = index.search(query_vectors, min(depth, len(documents)))
    positive = np.einsum("ij,ij->i", query_vectors, document_vectors[positives])
    return Candidates(ids, scores, positive)


def bm25_candidates(
    queries: list[str], documents: list[str], positives: list[int], depth: int
) -> Candidates:
    bm25 = BM25Retriever()
    index = bm25.index(documents)
    terms = bm25.tokens(queries)
    ids, scores = index.retrieve(terms, k=min(depth, len(documents)), show_progress=False)
    positive = np.array(
        [index.get_scores(t)[p] if t else 0.0 for t, p in zip(terms, positives, strict=True)],
        dtype=np.float32,
    )
    return Candidates(np.asarray(ids), np.asarray(scores), positive)
