"""Where things live: the checkout (presets are named relative to it) and the shared evaluation
data ($CPT_DATA, else ../shared/data beside the checkout)."""

from __future__ import annotations

import os
from pathlib import Path

from cpt_core.errors import CptError

REPO = Path(__file__).resolve().parent.parent


def repo_path(path: str | Path) -> Path:
    """A preset's path as given (absolute, or relative to here if it exists), else relative to
    the checkout, wherever the command or the flow runs from."""
    given = Path(path)
    return given if given.is_absolute() or given.exists() else REPO / given


def shared_data(*parts: str) -> Path:
    root = Path(os.environ.get("CPT_DATA", REPO.parent / "shared" / "data"))
    path = root.joinpath(*parts)
    if not path.exists():
        raise CptError(
            f"{path} not found: the evaluation and crawl sets are read from ../shared/data "
            "beside the checkout, or from $CPT_DATA (README, 'Data', lists them)"
        )
    return path
