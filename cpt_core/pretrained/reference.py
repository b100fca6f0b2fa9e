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
    if not HUB_ID.match(reference) or _names_a_folder(path):
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


def ready(reference: str) -> str:
    """`resolve`, but a catalogue name not fetched yet is fetched first (a verified download,
    once; converting it imports torch): what a command calls before it loads a model."""
    if reference in CATALOGUE and not is_complete(model_dir(reference)):
        from cpt_core.pretrained.fetch import fetch

        fetch(reference)
    return resolve(reference)


def _near(path: Path) -> str:
    """The catalogue name nearest to what was typed, as a parenthesis, or nothing."""
    names = difflib.get_close_matches(path.name.lower(), CATALOGUE, n=1, cutoff=0.6)
    return f" (did you mean {names[0]}?)" if names else ""


def _names_a_folder(path: Path) -> bool:
    """`runs/demo` where `runs/` exists is a mistyped folder, not a hub id."""
    return path.parent != Path(".") and path.parent.is_dir()


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").strip().lower() in OFF


def _in_hub_cache(repo_id: str) -> bool:
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.errors import HFValidationError

    try:
        return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    except HFValidationError as exc:  # `a--b`, `a/b..c`, over 96 characters: not an id
        raise CptError(f"'{repo_id}' is no model folder, catalogue name or hub id: {exc}") from None
