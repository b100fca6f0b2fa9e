"""Cache keys by content: a stage's inputs, its config and the code that runs it.

Names and paths never enter a key; the bytes behind them do. A mining stage hashes its input
files (path, size, content), later stages the manifests or weights they read, and every stage
the source of the modules it calls. Editing a text filter re-mines text; the combined dataset,
the model, the index and the report follow only if the mined data actually changed.
"""

from __future__ import annotations

import glob
import hashlib
import json
from pathlib import Path

from cpt_core.data.manifest import Manifest
from cpt_core.paths import REPO
from cpt_core.pipeline.sources import resolve_source
from cpt_core.pretrained.digest import weights_digest

CODE = {
    "mine-code": ["cpt_core/code", "cpt_core/dedup", "cpt_core/data", "beam_jobs"],
    "mine-text": ["cpt_core/text", "cpt_core/dedup", "cpt_core/data", "beam_jobs"],
    "combine": ["cpt_core/data", "cpt_core/pipeline/stages.py"],
    "train": [
        "cpt_core/train",
        "cpt_core/loss",
        "cpt_core/model",
        "cpt_core/dist",
        "cpt_core/data",
    ],
    "index": ["cpt_core/index", "cpt_core/eval/encoders.py", "cpt_core/model"],
    "evaluate": ["cpt_core/eval", "cpt_core/model"],
}


def stage_key(stage: str, *parts: object) -> str:
    digest = hashlib.sha256(stage.encode())
    digest.update(code_version(stage).encode())
    for part in parts:
        digest.update(json.dumps(part, sort_keys=True, default=str).encode())
    return f"{stage}-{digest.hexdigest()[:16]}"


def code_version(stage: str) -> str:
    digest = hashlib.sha256()
    for root in CODE[stage]:
        path = REPO / root
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(str(file.relative_to(REPO)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def inputs_digest(specs: tuple[str, ...]) -> str:
    """Every file under the resolved sources: relative path, size and content."""
    digest = hashlib.sha256()
    for spec in specs:
        location = resolve_source(spec)
        matches = sorted(glob.glob(location)) or [location]
        for match in matches:
            root = Path(match)
            files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
            for file in files:
                digest.update(f"{file.relative_to(root.parent)}\0{file.stat().st_size}".encode())
                with file.open("rb") as handle:  # streamed: inputs may be large archives
                    digest.update(hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()[:16]


def dataset_identity(folder: str | Path) -> str:
    return Manifest.read(Path(folder)).identity()


def model_identity(folder: str | Path) -> str:
    return weights_digest(str(folder), [])
