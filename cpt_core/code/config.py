"""The code miner's settings, loaded from a YAML preset (configs/mine-code.yaml)."""

from __future__ import annotations

from cpt_core.code.filters import FilterConfig
from cpt_core.code.sources import SKIP_DIRS
from cpt_core.config import Strict
from cpt_core.data.config import DedupeConfig, ShardConfig
from cpt_core.decontam.config import DecontaminationConfig


class CodeMiningConfig(Strict):
    skip_dirs: tuple[str, ...] = tuple(sorted(SKIP_DIRS))  # never read: vendored, installed
    filters: FilterConfig = FilterConfig()
    dedupe: DedupeConfig = DedupeConfig()
    shards: ShardConfig = ShardConfig()
    decontaminate: DecontaminationConfig = DecontaminationConfig()
