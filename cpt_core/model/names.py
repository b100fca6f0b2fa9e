"""What a person calls a model: the name reports, charts and the server show for it.

Pipeline stages write into folders named by their cache key
(`runs/pipeline-demo/train/train-3164982b574f129f/model`): right for a cache, meaningless to a
reader, and a different name after every retrain of the same run. So a model is called by what
a person chose: a catalogue name or hub id as typed, a pipeline's model by its run folder
(`pipeline-demo`, the name `cpt serve --registry` already answers to), any other folder by its
own name, or by its parent's when the folder is only called `model`.
"""

from __future__ import annotations

import re
from pathlib import Path

# a pipeline stage folder: the stage, then 16 hex digits of its cache key (flows/cache_keys.py)
CACHE_KEY = re.compile(r"[a-z]+(?:-[a-z]+)*-[0-9a-f]{16}")
MODEL_FOLDER = "model"  # where `cpt train` and the pipeline's train stage save the weights


def model_name(reference: str) -> str:
    """The human name of a model reference: a catalogue name, folder or hub id."""
    folder = Path(reference).expanduser()
    if not folder.is_dir():  # a catalogue name or a hub id: already what a person typed
        return reference
    folder = folder.resolve()
    named = folder.parent if folder.name == MODEL_FOLDER else folder
    if not CACHE_KEY.fullmatch(named.name):
        return named.name or folder.name
    area = named.parent  # <run>/train/train-KEY: the stage's area, then the run itself
    if area.name and named.name.startswith(area.name) and area.parent.name:
        return area.parent.name
    return folder.name


def clashing(names: list[str]) -> set[str]:
    """The names more than one model answers to (a retrained run beside its current model):
    those get their identity beside them, so no two columns of a report look alike."""
    return {name for name in names if names.count(name) > 1}


def with_identity(name: str, identity: str) -> str:
    """A name and the first 8 hex digits of its identity (weights, delimiters, token cap)."""
    return f"{name}@{identity[:8]}"
