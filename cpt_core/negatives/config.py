"""The pipeline's `hard_negatives:` block: a second training round on mined hard negatives."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from cpt_core.config import Strict


class HardNegativesConfig(Strict):
    """After round 1, each training query searches the training documents (with the round-1
    model, or BM25) and keeps its best-scoring candidates that are not its positive, not a
    duplicate of it and not suspiciously close to it; round 2 continues from round 1 on them.

    `margin` is the positive-aware filter of NV-Retriever (TopK-PercPos) and of
    sentence-transformers' `relative_margin` (0.05 there is 0.95 here): a candidate scoring
    above the positive's score less `1 - margin` of its magnitude (0.95 x a positive score) is
    more likely an unlabelled positive than a negative, and is not drawn as a random one either.
    """

    enabled: bool = False
    retriever: Literal["model", "bm25"] = "model"
    count: int = Field(1, ge=1)  # negatives per pair: round 2's data.hard_negatives
    depth: int = Field(30, ge=1)  # candidates searched per query
    margin: float = Field(0.95, gt=0, le=1)
    queries: int | None = Field(None, ge=1)  # training pairs given negatives (seeded); None: all
    pool: int | None = Field(None, ge=1)  # documents searched (their positives first); None: all
    seed: int = 0
    train_overrides: dict = Field(default_factory=dict)  # round 2's, over the pipeline's own

    def mining(self) -> dict:
        """The settings the mined rows follow (round 2's training overrides are not among
        them): the mined dataset's recorded config and its cache key."""
        return self.model_dump(mode="json", exclude={"train_overrides"})

    def round_two(self, overrides: dict) -> dict:
        """Round 2's training overrides: round 1's, this block's, and the negatives per pair."""
        return overrides | self.train_overrides | {"data.hard_negatives": self.count}
