"""`cpt index search`: open an index folder and answer queries with ids, scores and texts
(a ranked table for people, JSON lines for scripts).

Queries must be embedded by the model that built the index, with the same setting: the
model's identity is checked against meta.json and a mismatch is refused, because vectors of
another model (or another dimension) return confident nonsense rather than an error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
import pyarrow.parquet as pq
from pydantic import ValidationError
from rich.table import Table
from rich.text import Text

from cpt_core.errors import CptError
from cpt_core.index.meta import IndexMeta
from cpt_core.model.encoders import TextEncoder, load_encoder
from cpt_core.model.widths import narrowed


@dataclass(frozen=True)
class Hit:
    id: str
    score: float
    text: str


class SearchIndex:
    def __init__(self, folder: str | Path, encoder: TextEncoder | None = None):
        folder = Path(folder)
        self.meta = read_index_meta(folder)
        try:
            self.index = faiss.read_index(str(folder / "index.faiss"))
            table = pq.read_table(folder / "ids.parquet")
        except (RuntimeError, OSError) as exc:
            raise CptError(
                f"{folder}: index files unreadable ({str(exc).splitlines()[0]})"
            ) from exc
        self.ids, self.texts = table["id"].to_pylist(), table["text"].to_pylist()
        self._rows: dict[str, int] | None = None
        if self.index.ntotal != len(self.ids) or self.index.d != self.meta.dimension:
            raise CptError(f"{folder}: index.faiss and ids.parquet/meta.json disagree; rebuild it")
        if isinstance(self.index, faiss.IndexIVF):
            self.index.make_direct_map()  # filtered searches reconstruct rows (_score_exactly)
        self.encoder = encoder or load_encoder(self.meta.model, self.meta.max_length)
        if self.encoder.space != self.meta.model_identity:
            raise CptError(
                f"{folder} was built with {self.meta.model} (identity "
                f"{self.meta.model_identity[:12]}), not {self.encoder.name} "
                f"({self.encoder.space[:12]}): rebuild the index or search with its model"
            )

    def search(self, queries: list[str], k: int = 10) -> list[list[Hit]]:
        return self.search_vectors(self.encoder.encode(queries, "query"), k)

    def rows_of(self, ids: list[str]) -> np.ndarray:
        """The index rows holding these document ids (unknown ids match nothing)."""
        if self._rows is None:
            self._rows = {doc: row for row, doc in enumerate(self.ids)}
        return np.array(sorted({self._rows[i] for i in ids if i in self._rows}), dtype=np.int64)

    def search_vectors(
        self, vectors: np.ndarray, k: int = 10, within: np.ndarray | None = None
    ) -> list[list[Hit]]:
        """Top-k per query vector; `within` (rows, from `rows_of`) restricts the search. Full
        width vectors of a Matryoshka model meet an index built at one of its smaller widths
        as that prefix, as the index's documents did."""
        full, width = self.encoder.dim, self.meta.dimension
        if vectors.ndim == 2 and vectors.shape[1] == full > width and width in self.encoder.widths:
            vectors = narrowed(vectors, width)
        if vectors.ndim != 2 or vectors.shape[1] != self.meta.dimension:
            raise CptError(
                f"query vectors have dimension {vectors.shape[-1]}, the index "
                f"{self.meta.dimension}: they come from another model"
            )
        queries = np.ascontiguousarray(vectors, dtype=np.float32)
        if within is None:
            scores, rows = self.index.search(queries, k)
        elif len(within) <= EXACT_FILTER:
            scores, rows = self._score_exactly(queries, k, within)
        else:
            scores, rows = self.index.search(queries, k, params=_only(self.index, within))
        return [
            [
                Hit(self.ids[r], float(s), self.texts[r])
                for s, r in zip(ss, rr, strict=True)
                if r >= 0
            ]
            for ss, rr in zip(scores, rows, strict=True)
        ]

    def _score_exactly(
        self, queries: np.ndarray, k: int, within: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Every allowed row scored against every query. A graph or inverted-list search
        restricted to a few rows visits few of them and returns fewer than k hits (0-3 of 5
        were measured on HNSW and IVF-PQ); their stored vectors (PQ-coded ones as the index
        holds them) are few enough to score all."""
        stored = self.index.reconstruct_batch(within).astype(np.float32)
        scores = queries @ stored.T
        depth = min(k, len(within))
        top = np.argsort(-scores, axis=1, kind="stable")[:, :depth]
        return np.take_along_axis(scores, top, axis=1), within[top]


def hits_table(query: str, hits: list[Hit]) -> Table:
    """One query's hits, best first, a line each: a text's first line says what it is (a
    function's signature, a passage's opening) and is cut to the terminal's width."""
    # the text takes what the other columns leave (ratio, expand); rich would squeeze them else
    table = Table(title=Text(query, style="bold"), title_justify="left", expand=True)
    table.add_column("rank", justify="right", no_wrap=True)
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("id", no_wrap=True)
    table.add_column("text", no_wrap=True, overflow="ellipsis", ratio=1)
    for rank, hit in enumerate(hits, 1):
        first = next((line.strip() for line in hit.text.splitlines() if line.strip()), "")
        table.add_row(str(rank), f"{hit.score:.4f}", Text(hit.id), Text(first))  # no markup
    return table


EXACT_FILTER = 4096  # a filter of at most this many rows is scored exactly


def _only(index: faiss.Index, rows: np.ndarray) -> faiss.SearchParameters:
    """Search parameters that admit only `rows`, keeping the index's own search depth."""
    if isinstance(index, faiss.IndexHNSW):
        params = faiss.SearchParametersHNSW()
        params.efSearch = index.hnsw.efSearch
    elif isinstance(index, faiss.IndexIVF):
        params = faiss.SearchParametersIVF()
        params.nprobe = index.nprobe
    else:
        params = faiss.SearchParameters()
    params.sel = faiss.IDSelectorBatch(rows)
    return params


def read_index_meta(folder: Path) -> IndexMeta:
    path = folder / "meta.json"
    if not path.is_file():
        raise CptError(f"{folder} is not an index folder (no meta.json)")
    try:
        return IndexMeta.model_validate(json.loads(path.read_text()))
    except (ValueError, ValidationError) as exc:
        raise CptError(f"{path}: not valid index metadata ({str(exc).splitlines()[0]})") from exc
