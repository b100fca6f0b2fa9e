"""`cpt data fetch`: put the public sets where cpt looks for them, verified.

A set already present in any data root (../shared/data first) is left as it is. Otherwise its
files are downloaded into a staging folder (cpt_core/sets/download.py: streamed, size-bounded,
sha256-checked), converted where the set needs it (and the conversion's output checked against
its own pins), and the set's folder appears under the fetch root (`$CPT_DATA`, else
~/.cache/cpt/data) whole or not at all. A folder of that name already there but incomplete is
never replaced: it may hold the user's own files. Nothing is unpacked from an archive but the
members a conversion names.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cpt_core.errors import CptError
from cpt_core.paths import data_roots, fetched_data
from cpt_core.sets import convert
from cpt_core.sets.catalogue import DataSet, lookup
from cpt_core.sets.download import check_file, download
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
    if found := data_set.found_in(data_roots()):
        return Fetched(data_set.name, found / data_set.folder, downloaded=False)
    root = fetched_data()
    target = root / data_set.folder
    if target.exists():
        missing = [f.dest for f in data_set.outputs() if not (root / f.dest).is_file()]
        raise CptError(
            f"{target} exists but lacks {len(missing)} of the set's files ({missing[0]}, ...); "
            "move it aside and fetch again"
        )
    megabytes = data_set.size() / 1e6
    print(f"[cpt] downloading {data_set.name} ({megabytes:.1f} MB) into {target}", file=sys.stderr)
    with atomic_dir(target) as staged, tempfile.TemporaryDirectory(dir=target.parent) as work:
        inputs = Path(work)
        kept = set(data_set.kept())
        for pinned in data_set.files:
            where = staged if pinned in kept else inputs
            dest = where / pinned.dest.removeprefix(data_set.folder + "/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            download(pinned.url, pinned.sha256, pinned.size, dest)
        if data_set.conversion:
            getattr(convert, data_set.conversion)(inputs, staged)
            for made in data_set.made:
                check_file(staged / made.dest.removeprefix(data_set.folder + "/"), made)
    return Fetched(data_set.name, target, downloaded=True)
