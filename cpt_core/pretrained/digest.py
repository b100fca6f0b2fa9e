"""Identities by content: of one file, of a folder tree, and of a model (its files plus how it
is used to encode). One rule for all of them, so a model's identity, a stage's cache key and a
corpus's identity never disagree about what a folder holds.
"""

from __future__ import annotations

import glob
import hashlib
import json
from pathlib import Path

# Files in a model folder that say where it came from or describe it, never how it encodes.
NOT_THE_MODEL = frozenset({"cpt_source.json", "README.md"})


def file_digest(path: Path) -> str:
    """SHA256 of a file's bytes, streamed: weights, archives and corpora need not fit in RAM."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def folder_files(folder: Path) -> list[Path]:
    """Every file under `folder`, at any depth, in a stable order."""
    return sorted(path for path in folder.rglob("*") if path.is_file())


def _encodes(file: Path, folder: Path) -> bool:
    """Whether a file of a model folder can change how it encodes: not a description of where
    it came from, nor a hidden file (`.gitattributes`, `.cache/`, staging folders)."""
    parts = file.relative_to(folder).parts
    return file.name not in NOT_THE_MODEL and not any(p.startswith(".") for p in parts)


def tree_digest(location: str) -> str:
    """A file, a folder or a glob by content: each file's relative path, size and bytes."""
    digest = hashlib.sha256()
    for match in sorted(glob.glob(location)) or [location]:
        root = Path(match)
        files = folder_files(root) if root.is_dir() else [root]
        for file in files:
            digest.update(f"{file.relative_to(root.parent)}\0{file.stat().st_size}".encode())
            digest.update(file_digest(file).encode())
    return digest.hexdigest()[:16]


def weights_digest(location: str, setting: list) -> str:
    """A model by every file in its folder that can change how it encodes (weights in any
    format and subfolder, configs, tokenizer and vocabulary files), plus the encoding setting;
    a hub id, which has no folder here, by its name."""
    digest = hashlib.sha256(json.dumps(setting, sort_keys=True).encode())
    folder = Path(location)
    files = [f for f in folder_files(folder) if _encodes(f, folder)] if folder.is_dir() else []
    if not files:
        digest.update(location.encode())
    for file in files:
        digest.update(f"{file.relative_to(folder)}\0{file_digest(file)}\0".encode())
    return digest.hexdigest()


def with_precision(space: str, dtype: str) -> str:
    """An encoder's identity: its vector space (`weights_digest` with its encoding setting) and
    the precision it computes in. Vectors cached for reuse are keyed on this, so float32 vectors
    never stand in for a bfloat16 run; an index is checked against the space alone, so one built
    in bfloat16 on a GPU is served by a float32 CPU (they differ by bf16's rounding only)."""
    return hashlib.sha256(f"{space}:{dtype}".encode()).hexdigest()
