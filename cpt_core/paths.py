"""Where the shared evaluation data lives: $CPT_DATA, else ../shared/data beside the checkout."""

from __future__ import annotations

import os
from pathlib import Path

from cpt_core.errors import CptError

REPO = Path(__file__).resolve().parent.parent


def shared_data(*parts: str) -> Path:
    root = Path(os.environ.get("CPT_DATA", REPO.parent / "shared" / "data"))
    path = root.joinpath(*parts)
    if not path.exists():
        raise CptError(f"{path} not found; set CPT_DATA to the folder holding the shared data sets")
    return path
