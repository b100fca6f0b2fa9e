"""Where fetched models live: $CPT_HOME/models/NAME (default ~/.cache/cpt)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    return Path(os.environ.get("CPT_HOME", Path.home() / ".cache" / "cpt"))


def model_dir(name: str) -> Path:
    return cache_root() / "models" / name


def is_complete(folder: Path) -> bool:
    """A converted folder is renamed into place whole, so config.json marks it complete."""
    return (folder / "config.json").is_file()
