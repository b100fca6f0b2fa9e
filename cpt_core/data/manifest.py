"""manifest.json: the identity of a dataset, written last so its presence means "complete".

Prefect caches on a manifest's hash, models record the manifests they were trained on, and
retraining compares them; so the hash covers content (shard checksums, counts, config), never
timestamps.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cpt_core.data.schema import SCHEMA_VERSION
from cpt_core.errors import CptError
from cpt_core.staging import atomic_file

MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True)
class ShardEntry:
    path: str  # relative to the dataset folder
    rows: int
    bytes: int
    sha256: str

    @classmethod
    def of(cls, path: str, rows: int, data: bytes) -> ShardEntry:
        return cls(path, rows, len(data), hashlib.sha256(data).hexdigest())


@dataclass
class Manifest:
    kind: str
    inputs: list[str]
    config: dict
    code_version: str
    counts: dict
    shards: list[ShardEntry]
    created: str = ""
    dead_letters: list[ShardEntry] = field(default_factory=list)  # JSONL: what could not be used
    schema_version: int = SCHEMA_VERSION
    config_hash: str = field(init=False)

    def __post_init__(self) -> None:
        self.config_hash = _digest(self.config)

    def identity(self) -> str:
        """Content hash: everything except when it was made."""
        body = asdict(self)
        body.pop("created")
        return _digest(body)

    def vouches(self, name: str, size: int) -> bool:
        """Whether this manifest lists a shard of that name and size: its rows were checked
        as they were written (`writer.encode_shard`)."""
        return any(s.path == name and s.bytes == size for s in self.shards)

    def rows_in(self, split: str | None) -> int:
        return int(self.counts.get("by_split", {}).get(split, 0) if split else self.counts["rows"])

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    def write(self, folder: Path) -> Path:
        """Written whole (cpt_core.staging): a reader never sees half a manifest."""
        target = folder / MANIFEST_NAME
        with atomic_file(target) as staging:
            staging.write_text(self.to_json())
        return target

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        path = folder / MANIFEST_NAME
        try:
            return cls.from_json(path.read_text())
        except FileNotFoundError as exc:
            raise CptError(f"{folder} has no {MANIFEST_NAME}: the dataset is incomplete") from exc
        except CptError as exc:
            raise CptError(f"{path} is {exc}") from exc

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        try:
            body = json.loads(text)
            body.pop("config_hash", None)
            body["shards"] = [ShardEntry(**s) for s in body["shards"]]
            body["dead_letters"] = [ShardEntry(**s) for s in body.get("dead_letters", [])]
            return cls(**body)
        except (ValueError, TypeError, KeyError) as exc:
            raise CptError(f"not a valid manifest: {exc}") from exc


def _digest(obj: object) -> str:
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
