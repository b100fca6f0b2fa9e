"""Config sections both miners share: how their datasets are deduplicated and sharded."""

from __future__ import annotations

from pydantic import Field

from cpt_core.config import Strict


class DedupeConfig(Strict):
    """Dedupe for both miners: exact on a normalised hash, near on MinHash LSH bands."""

    near_threshold: float = Field(0.8, gt=0, le=1)  # estimated Jaccard over token 5-grams


class ShardConfig(Strict):
    rows_per_shard: int = Field(50_000, ge=1)  # hash-partitioned, so shards come out about equal
