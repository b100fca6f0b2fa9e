"""The overlap index for a miner's settings, built once per content of the eval sets.

Building reads every eval text and hashes its n-grams (a few seconds for the public sets);
the result is kept under $CPT_HOME/decontamination, keyed by the sets' bytes and the settings,
so every later mining run with the same sets loads it instead.
"""

from __future__ import annotations

import hashlib
import json
import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path

from cpt_core.decontam.config import DecontaminationConfig
from cpt_core.decontam.eval_sets import ReportedSets, reported_sets
from cpt_core.decontam.index import OverlapIndex
from cpt_core.pretrained.cache import cache_root
from cpt_core.pretrained.digest import tree_digest
from cpt_core.staging import atomic_file

log = logging.getLogger("cpt.decontam")


@dataclass(frozen=True)
class Checked:
    index: OverlapIndex
    path: Path  # the index as saved (OverlapIndex.load), for workers
    unavailable: tuple[str, ...]  # public sets not on this machine, hence not checked
    key: str  # the sets' content and the settings


def sets_key(config: DecontaminationConfig) -> str:
    """What the index depends on: the settings and the bytes of every set it reads (a
    changed eval set changes this, and so the mining stage's cache key)."""
    return _key(config, reported_sets(config.against, read=False))


def overlap_index(config: DecontaminationConfig) -> Checked:
    """The index of the sets `config` names, from the cache or built (and then cached)."""
    sets = reported_sets(config.against, read=False)
    key = _key(config, sets)
    for name in sets.unavailable:
        log.warning("decontamination: %s is not on this machine, not checked", name)
    unavailable = tuple(sets.unavailable)
    cached = cache_root() / "decontamination" / f"{key}.npz"
    if cached.is_file():
        try:
            return Checked(OverlapIndex.load(cached.read_bytes()), cached, unavailable, key)
        except (ValueError, KeyError, OSError, zipfile.BadZipFile) as exc:  # built again below
            log.warning("decontamination: %s is unreadable (%s), building it again", cached, exc)
    index = OverlapIndex.build(reported_sets(config.against).found, config)
    cached.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(cached) as staging:
        staging.write_bytes(index.save())
    return Checked(index, cached, unavailable, key)


def _key(config: DecontaminationConfig, sets: ReportedSets) -> str:
    settings = config.model_dump(mode="json", exclude={"against", "enabled"})
    parts = [settings, sorted(tree_digest(str(p)) for p in sets.paths), sets.unavailable]
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]
