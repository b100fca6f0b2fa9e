"""A model's identity: a hash of its weights and config bytes plus how it is used to encode."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path


def with_precision(space: str, dtype: str) -> str:
    """An encoder's identity: its vector space (`weights_digest` with its encoding setting) and
    the precision it computes in. Vectors cached for reuse are keyed on this, so float32 vectors
    never stand in for a bfloat16 run; an index is checked against the space alone, so one built
    in bfloat16 on a GPU is served by a float32 CPU (they differ by bf16's rounding only)."""
    return hashlib.sha256(f"{space}:{dtype}".encode()).hexdigest()


def weights_digest(location: str, setting: list) -> str:
    """SHA256 of the weights and config bytes plus the encoding setting (hub ids: by name)."""
    digest = hashlib.sha256(json.dumps(setting, sort_keys=True).encode())
    folder = Path(location)
    files = sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.json"))
    if not folder.is_dir() or not files:
        digest.update(location.encode())
    for file in files:
        if file.name in ("cpt_source.json", "README.md"):
            continue
        digest.update(file.name.encode())
        feed_file(digest, file)
    return digest.hexdigest()


def feed_file(digest: hashlib._Hash, path: Path) -> None:
    """Add a file's bytes to `digest` in 4 MB blocks: weights and corpora need not fit in RAM."""
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
