"""Retrievers the search tasks compare: dense (any TextEncoder, exact cosine) and BM25.

Both answer the same question, the top `depth` document indices per query, so every search
metric is computed by one harness whatever produced the ranking.
"""

from __future__ import annotations

import logging
from typing import Protocol

import numpy as np

from cpt_core.eval.ranking import rank
from cpt_core.model.encoders import TextEncoder


class Retriever(Protocol):
    name: str

    def search(self, queries: list[str], documents: list[str], depth: int) -> np.ndarray: ...


class DenseRetriever:
    """Queries on the query side, documents on the document side, exact inner product."""

    def __init__(self, encoder: TextEncoder):
        self.encoder = encoder
        self.name = encoder.name

    def search(self, queries: list[str], documents: list[str], depth: int) -> np.ndarray:
        documents_vectors = self.encoder.encode(documents, "document")
        query_vectors = self.encoder.encode(queries, "query")
        return rank(query_vectors, documents_vectors, min(depth, len(documents)))


class BM25Retriever:
    """Lucene-variant BM25 (k1 1.5, b 0.75) with English stopwords and the Snowball stemmer,
    the setting of BEIR's published BM25 figures."""

    name = "bm25"

    def __init__(self, k1: float = 1.5, b: float = 0.75):
        import bm25s  # noqa: F401 - imported first: it sets its own logger to DEBUG on import
        import Stemmer

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # else it logs every index build
        self.k1, self.b = k1, b
        self.stemmer = Stemmer.Stemmer("english")

    def tokens(self, texts: list[str]) -> list[list[str]]:
        """Each text's stemmed terms, stopwords out."""
        import bm25s

        return bm25s.tokenize(
            texts, stopwords="en", stemmer=self.stemmer, return_ids=False, show_progress=False
        )

    def index(self, documents: list[str]):
        """A bm25s index of `documents` (`.retrieve(tokens, k)`, `.get_scores(terms)`)."""
        import bm25s

        index = bm25s.BM25(method="lucene", k1=self.k1, b=self.b)
        index.index(self.tokens(documents), show_progress=False)
        return index

    def search(self, queries: list[str], documents: list[str], depth: int) -> np.ndarray:
        index = self.index(documents)
        asked = self.tokens(queries)
        found, _ = index.retrieve(asked, k=min(depth, len(documents)), show_progress=False)
        return np.asarray(found)
