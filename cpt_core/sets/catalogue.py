"""Each public data set the main job reads: what it is, its licence, and every file pinned by
URL (a repository at a fixed commit) and sha256, with where it goes under the data root.

The pins (pins.json) were taken from the copies in ../shared/data and checked byte for byte
against the named repositories at those commits. A set whose published form differs from what
cpt reads (SciFact: a zip and a 4-column qrels file) names a conversion in
cpt_core/sets/convert.py, run once every file is verified.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from cpt_core.errors import CptError

PINS = Path(__file__).with_name("pins.json")


@dataclass(frozen=True)
class Made:
    """A file a conversion writes, pinned like a download: the conversion is checked too."""

    dest: str  # path under the data root
    sha256: str
    size: int


@dataclass(frozen=True)
class Pinned(Made):
    url: str


@dataclass(frozen=True)
class DataSet:
    name: str
    folder: str  # under the data root; written whole or not at all
    what: str
    licence: str
    source: str
    # downloads: those under `folder` are kept as they are, the others only feed the conversion
    files: tuple[Pinned, ...]
    conversion: str | None = None  # a function in cpt_core.sets.convert
    made: tuple[Made, ...] = ()  # what the conversion writes

    def kept(self) -> tuple[Pinned, ...]:
        return tuple(f for f in self.files if f.dest.startswith(self.folder + "/"))

    def outputs(self) -> tuple[Made, ...]:
        """The files a complete copy holds (under the data root)."""
        return self.kept() + self.made

    def found_in(self, roots: list[Path]) -> Path | None:
        """The first root holding every file of the set (by name; fetching verified them)."""
        return next((r for r in roots if all((r / f.dest).is_file() for f in self.outputs())), None)

    def size(self) -> int:
        """Bytes to download."""
        return sum(f.size for f in self.files)


def _load() -> dict[str, DataSet]:
    sets = {}
    for name, entry in json.loads(PINS.read_text()).items():
        files = tuple(Pinned(**f) for f in entry.pop("files"))
        made = tuple(Made(**f) for f in entry.pop("made", ()))
        sets[name] = DataSet(name=name, files=files, made=made, **entry)
    return sets


SETS: dict[str, DataSet] = _load()


def lookup(names: list[str]) -> list[DataSet]:
    """The sets named (every set for none), in catalogue order."""
    unknown = [n for n in names if n not in SETS]
    if unknown:
        raise CptError(f"no data set '{unknown[0]}'; sets: {', '.join(SETS)}")
    return [s for s in SETS.values() if not names or s.name in names]
