"""What decontamination removed from the data a model saw, read back from the manifests.

A combined dataset (the pipeline's) has no counts of its own for this: its manifest names the
mined datasets it was made from, and their counts are summed here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from cpt_core.data.manifest import MANIFEST_NAME, Manifest


def removed_by_set(folders: Iterable[str | Path]) -> dict | None:
    """{"removed": {eval set: pairs}, "checked": [sets], "unavailable": [sets]} over the
    datasets in `folders` and those they were combined from; None when none was checked (data
    mined before decontamination, or with it turned off) or a folder is gone."""
    removed: Counter[str] = Counter()
    checked: set[str] = set()
    unavailable: set[str] = set()
    for manifest in _manifests(folders):
        removed.update(manifest.counts.get("contaminated", {}))
        checked.update(manifest.counts.get("decontamination_checked", {}))
        unavailable.update(manifest.counts.get("decontamination_unavailable", {}))
    if not checked:
        return None
    return {
        "removed": {name: removed.get(name, 0) for name in sorted(checked)},
        "checked": sorted(checked),
        "unavailable": sorted(unavailable),
    }


def _manifests(folders: Iterable[str | Path]) -> Iterable[Manifest]:
    for folder in map(Path, folders):
        if not (folder / MANIFEST_NAME).is_file():
            continue
        manifest = Manifest.read(folder)
        yield manifest
        if manifest.kind == "mixed":  # a combined dataset: its inputs are datasets
            yield from _manifests(manifest.inputs)
