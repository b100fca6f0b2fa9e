"""Where things live: the checkout (presets are named relative to it) and the public data
sets (crawl samples, evaluation sets).

The data sets are looked for in `$CPT_DATA` when it is set, and otherwise in ../shared/data
beside the checkout, then in ~/.cache/cpt/data (under $CPT_HOME), where `cpt data fetch` puts
what it downloads.
"""

from __future__ import annotations

import os
from pathlib import Path

from cpt_core.errors import CptError
from cpt_core.pretrained.cache import cache_root

REPO = Path(__file__).resolve().parent.parent


def repo_path(path: str | Path) -> Path:
    """A preset's path as given (absolute, or relative to here if it exists), else relative to
    the checkout, wherever the command or the flow runs from."""
    given = Path(path)
    return given if given.is_absolute() or given.exists() else REPO / given


def fetched_data() -> Path:
    """Where `cpt data fetch` writes: $CPT_DATA, else the cache."""
    explicit = os.environ.get("CPT_DATA")
    return Path(explicit) if explicit else cache_root() / "data"


def data_roots() -> list[Path]:
    """The folders looked in, in order."""
    if os.environ.get("CPT_DATA"):
        return [fetched_data()]
    return [REPO.parent / "shared" / "data", fetched_data()]


def shared_data(*parts: str) -> Path:
    """The first of the data roots that holds `parts`."""
    for root in data_roots():
        if (path := root.joinpath(*parts)).exists():
            return path
    where = " or ".join(str(root) for root in data_roots())
    raise CptError(
        f"{'/'.join(parts)} not found in {where}: `cpt data fetch` downloads the public sets "
        "(README, 'Data')"
    )
