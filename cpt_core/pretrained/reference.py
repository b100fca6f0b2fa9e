"""What a model reference a user typed points to: a folder, a catalogue name or a hub id.

Kept apart from the loader so that a command can check its reference before it imports torch
and transformers (15-30 s): a typo fails in a moment, in one line that names the fix.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path

from cpt_core.errors import CptError
from cpt_core.pretrained.cache import is_complete, model_dir
from cpt_core.pretrained.catalogue import CATALOGUE

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")  # `gpt2` or `org/name`
OFF = ("1", "on", "true", "yes")  # how huggingface_hub reads HF_HUB_OFFLINE


def resolve(reference: str | Path) -> str:
    """A catalogue name's fetched folder, a checked local folder, or a hub id that can load."""
    reference = str(reference)
    path = Path(reference).expanduser()
    if path.exists():
        if not path.is_dir() or not (path / "config.json").is_file():
            raise CptError(f"{path} is not a model folder (no config.json)")
        return str(path)
    if reference in CATALOGUE:
        folder = model_dir(reference)
        if not is_complete(folder):
            raise CptError(
                f"model '{reference}' is not fetched yet; run: cpt models fetch {reference}"
            )
        return str(folder)
    catalogue = "`cpt models list` shows the catalogue"
    if not HUB_ID.match(reference):
        raise CptError(
            f"no such model folder: {reference}, and not a catalogue name{_near(path)}; {catalogue}"
        )
    if _offline() and not _in_hub_cache(reference):
        raise CptError(
            f"'{reference}' is no model folder, no catalogue name{_near(path)} and not in the "
            f"Hugging Face cache; {catalogue}, and --online (or HF_HUB_OFFLINE=0) lets a hub id "
            "download"
        )
    return reference


def check(reference: str) -> None:
    """Fail now on a reference nothing could load; a catalogue name passes (fetched on use)."""
    if reference not in CATALOGUE:
        resolve(reference)


def _near(path: Path) -> str:
    """The catalogue name nearest to what was typed, as a parenthesis, or nothing."""
    names = difflib.get_close_matches(path.name.lower(), CATALOGUE, n=1, cutoff=0.6)
    return f" (did you mean {names[0]}?)" if names else ""


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").strip().lower() in OFF


def _in_hub_cache(repo_id: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
