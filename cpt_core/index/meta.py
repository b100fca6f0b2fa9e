"""meta.json of an index folder: what built it, so a search can refuse a mismatched model."""

from __future__ import annotations

from pydantic import BaseModel


class IndexMeta(BaseModel):
    model: str
    model_identity: str  # weights + encoding setting digest (cpt_core.pretrained.digest)
    dimension: int
    metric: str
    kind: str
    count: int
    corpus: str
    corpus_identity: str
    recall_at_10: float  # against exact search on a held-out sample of the corpus
    max_length: int | None = None
    created: str = ""
