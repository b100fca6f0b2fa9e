"""`cpt data fetch`: put the public sets where cpt looks for them, verified.

A set already present in any data root (../shared/data first) is left as it is. Otherwise its
files are downloaded into a staging folder (cpt_core/sets/download.py: streamed, size-bounded,
sha256-checked), converted where the set needs it, and the set's folder appears under the
fetch root (`$CPT_DATA`, else ~/.cache/cpt/data) whole or not at all. Nothing is unpacked
from an archive but the members a conversion names.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cpt_core.paths import data_roots, fetched_data
from cpt_core.sets import convert
from cpt_core.sets.catalogue import DataSet, lookup
from cpt_core.sets.download import download
from cpt_core.staging import atomic_dir


@dataclass(frozen=True)
class Fetched:
    name: str
    folder: Path
    downloaded: bool  # False: it was there already


def fetch_sets(names: list[str]) -> list[Fetched]:
    """Each named set (every set for none) present and complete under some data root."""
    return [fetch_set(data_set) for data_set in lookup(names)]


def fetch_set(data_set: DataSet) -> Fetched:
    for root in data_roots():
        if all((root / dest).is_file() for dest in data_set.outputs()):
            return Fetched(data_set.name, root / data_set.folder, downloaded=False)
    root = fetched_data()
    target = root / data_set.folder
    megabytes = data_set.size() / 1e6
    print(f"[cpt] downloading {data_set.name} ({megabytes:.1f} MB) into {target}", file=sys.stderr)
    with atomic_dir(target) as staged, tempfile.TemporaryDirectory(dir=target.parent) as work:
        inputs = Path(work)
        for pinned in data_set.files:
            kept = pinned.dest.startswith(data_set.folder + "/")
            dest = staged / pinned.dest.removeprefix(data_set.folder + "/") if kept else None
            dest = dest or inputs / pinned.dest
            dest.parent.mkdir(parents=True, exist_ok=True)
            download(pinned.url, pinned.sha256, pinned.size, dest)
        if data_set.conversion:
            getattr(convert, data_set.conversion)(inputs, staged)
    return Fetched(data_set.name, target, downloaded=True)
