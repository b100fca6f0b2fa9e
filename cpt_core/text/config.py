"""The text miner's settings, loaded from a YAML preset (configs/mine-text.yaml)."""

from __future__ import annotations

from cpt_core.config import Strict
from cpt_core.data.config import DedupeConfig, ShardConfig
from cpt_core.decontam.config import DecontaminationConfig
from cpt_core.text.chunk import ChunkConfig
from cpt_core.text.filters import TextFilterConfig


class TextMiningConfig(Strict):
    tokenizer: str = "smollm2-135m"  # whose tokens the passage budget counts: a model reference
    languages: tuple[str, ...] = ("en",)  # ISO 639-1 codes to keep; empty keeps every language
    max_record_bytes: int = 5_000_000  # larger records, pages and inflated bodies: too_large
    max_pairs_per_host: int = 10_000  # 0: no cap
    top_hosts: int = 20  # how many hosts the manifest lists with their pair counts
    chunks: ChunkConfig = ChunkConfig()
    filters: TextFilterConfig = TextFilterConfig()
    dedupe: DedupeConfig = DedupeConfig()
    shards: ShardConfig = ShardConfig()
    decontaminate: DecontaminationConfig = DecontaminationConfig()
