"""Typed training configuration, loaded from YAML presets in configs/.

Every field has a default, so a preset only states what differs. Unknown keys are rejected:
a typo in a preset should fail loudly rather than silently train with the default.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cpt_core.errors import CptError

C = TypeVar("C", bound=BaseModel)


class Strict(BaseModel):
    """A config section: immutable, and unknown keys are an error rather than ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Delimiters(Strict):
    """Opening and closing text around each side; the closing one is the pooled token."""

    query: tuple[str, str] = ("[", "]")
    document: tuple[str, str] = ("{", "}")


class ModelConfig(Strict):
    name: str = "smollm2-135m"  # catalogue name, local folder or Hugging Face id
    max_length: int = Field(128, ge=4)
    delimiters: Delimiters = Delimiters()
    padding_side: Literal["left", "right"] = "right"
    gradient_checkpointing: bool = False


class LossConfig(Strict):
    init_scale: float = Field(1 / 0.07, gt=0)  # exp(tau) at start, as CLIP
    max_scale: float = Field(100.0, gt=0)  # CLIP's clamp on exp(tau)
    learn_scale: bool = True


class OptimConfig(Strict):
    lr: float = Field(2e-5, gt=0)
    scale_lr: float = Field(1e-3, ge=0)  # tau learns faster than the weights
    weight_decay: float = Field(0.01, ge=0)
    betas: tuple[float, float] = (0.9, 0.98)
    warmup_steps: int = Field(100, ge=0)
    max_steps: int = Field(1000, ge=1)
    min_lr_ratio: float = Field(0.1, ge=0, le=1)
    grad_clip: float = Field(1.0, gt=0)


class DataConfig(Strict):
    batch_size: int = Field(256, ge=2)  # global batch: pairs contrasted against each other
    chunk_size: int = Field(0, ge=0)  # gradient-cache mini-batch; 0 embeds the batch at once
    seed: int = 0
    hard_negatives: int = Field(0, ge=0)  # per pair, from the shard's `negatives` column


class DedupeConfig(Strict):
    """Dedupe for both miners: exact on a normalised hash, near on MinHash LSH bands."""

    near_threshold: float = Field(0.8, gt=0, le=1)  # estimated Jaccard over token 5-grams


class ShardConfig(Strict):
    rows_per_shard: int = Field(50_000, ge=1)  # hash-partitioned, so shards come out about equal


class TrainConfig(Strict):
    model: ModelConfig = ModelConfig()
    loss: LossConfig = LossConfig()
    optim: OptimConfig = OptimConfig()
    data: DataConfig = DataConfig()
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # auto: bf16 autocast on CUDA only
    log_every: int = Field(1, ge=1)
    checkpoint_every: int = Field(100, ge=1)
    keep_checkpoints: int = Field(2, ge=1)

    def digest(self) -> str:
        """Stable hash of the configuration, recorded with checkpoints and models."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_config(path: str | Path | None = None, **overrides: object) -> TrainConfig:
    """Read a training preset (or the defaults) with dotted overrides like `optim.lr=1e-4`."""
    return load_preset(TrainConfig, path, **overrides)


def load_preset(model: type[C], path: str | Path | None = None, **overrides: object) -> C:
    """Read a YAML preset into `model` (or its defaults) and apply dotted overrides."""
    raw: dict = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise CptError(f"config file not found: {path}")
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise CptError(f"config {path} is not valid YAML: {exc}".splitlines()[0]) from exc
    for dotted, value in overrides.items():
        node = raw
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise CptError(f"invalid config at '{where}': {first['msg']}") from exc
