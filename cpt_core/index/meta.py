"""meta.json of an index folder: what built it, so a search can refuse a mismatched model."""

from __future__ import annotations

from pydantic import BaseModel


class IndexMeta(BaseModel):
    model: str
    # the model's vector space (weights + encoding setting, cpt_core.pretrained.digest), which
    # a searching model must share; the precision the vectors were computed in is recorded
    # beside it, and may differ (bf16 on a GPU, float32 on a CPU)
    model_identity: str
    model_dtype: str = ""
    dimension: int
    metric: str
    kind: str
    count: int
    corpus: str
    corpus_identity: str
    recall_at_10: float  # against exact search on a held-out sample of the corpus
    max_length: int | None = None
    created: str = ""
