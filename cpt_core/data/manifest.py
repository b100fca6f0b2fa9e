"""manifest.json: the identity of a dataset, written last so its presence means "complete".

Prefect caches on a manifest's hash, models record the manifests they were trained on, and
retraining compares them; so the hash covers content (shard checksums, counts, config), never
timestamps.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cpt_core.data.schema import SCHEMA_VERSION
from cpt_core.errors import CptError

MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True)
class ShardEntry:
    path: str  # relative to the dataset folder
    rows: int
    bytes: int
    sha256: str


@dataclass
class Manifest:
    kind: str
    inputs: list[str]
    config: dict
    code_version: str
    counts: dict
    shards: list[ShardEntry]
    created: str = ""
    schema_version: int = SCHEMA_VERSION
    config_hash: str = field(init=False)

    def __post_init__(self) -> None:
        self.config_hash = _digest(self.config)

    def identity(self) -> str:
        """Content hash: everything except when it was made."""
        body = asdict(self)
        body.pop("created")
        return _digest(body)

    def write(self, folder: Path) -> Path:
        """Write atomically (temp file + rename): a reader never sees half a manifest."""
        target = folder / MANIFEST_NAME
        tmp = folder / f".{MANIFEST_NAME}.tmp"
        tmp.write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")
        os.replace(tmp, target)
        return target

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        path = folder / MANIFEST_NAME
        try:
            body = json.loads(path.read_text())
            body.pop("config_hash", None)
            body["shards"] = [ShardEntry(**s) for s in body["shards"]]
            return cls(**body)
        except FileNotFoundError as exc:
            raise CptError(f"{folder} has no {MANIFEST_NAME}: the dataset is incomplete") from exc
        except (ValueError, TypeError, KeyError) as exc:
            raise CptError(f"{path} is not a valid manifest: {exc}") from exc


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _digest(obj: object) -> str:
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
