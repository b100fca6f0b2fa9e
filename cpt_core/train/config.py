"""Typed training configuration, loaded from YAML presets in configs/ (train-*.yaml)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from cpt_core.config import Strict, load_preset
from cpt_core.errors import CptError
from cpt_core.model.delimiters import Delimiters
from cpt_core.model.folder import CptMeta, read_meta

# resolved against the device (train/precision.py); bf16 is autocast, bf16-weights keeps the
# weights in bf16 with float32 masters (train/master_weights.py)
Precision = Literal["auto", "fp32", "bf16", "bf16-weights"]


class ModelConfig(Strict):
    name: str = "smollm2-135m"  # catalogue name, local folder or Hugging Face id
    max_length: int = Field(128, ge=4)
    delimiters: Delimiters = Delimiters()
    padding_side: Literal["left", "right"] = "right"
    gradient_checkpointing: bool = False
    fused_kernels: bool = (
        False  # Liger-Kernel's RMSNorm, rotary, SwiGLU: CUDA only (model/fused.py)
    )


class LossConfig(Strict):
    init_scale: float = Field(1 / 0.07, gt=0)  # exp(tau) at start, as CLIP
    max_scale: float = Field(100.0, gt=0)  # CLIP's clamp on exp(tau)
    learn_scale: bool = True
    # Matryoshka widths, e.g. [64, 128, 256, full]: the loss is summed over these prefixes
    # (loss/matryoshka.py); empty trains the full width alone.
    matryoshka_dims: tuple[int | Literal["full"], ...] = ()
    matryoshka_weights: tuple[float, ...] = ()  # one per width; empty: 1 each

    @model_validator(mode="after")
    def _widths(self) -> LossConfig:
        if self.matryoshka_weights and len(self.matryoshka_weights) != len(self.matryoshka_dims):
            raise ValueError("loss.matryoshka_weights needs one weight per matryoshka_dims entry")
        if any(d != "full" and d < 1 for d in self.matryoshka_dims):
            raise ValueError("loss.matryoshka_dims are positive widths or 'full'")
        return self

    def widths(self, full: int) -> tuple[tuple[int, ...], tuple[float, ...]]:
        """The Matryoshka widths for a model `full` wide, ascending and each at most `full`,
        with their weights; ((), ()) when none are set."""
        if not self.matryoshka_dims:
            return (), ()
        weights = self.matryoshka_weights or (1.0,) * len(self.matryoshka_dims)
        dims = [full if d == "full" else d for d in self.matryoshka_dims]
        if max(dims) > full:
            raise CptError(f"loss.matryoshka_dims: {max(dims)} is wider than the model ({full})")
        pairs = sorted(zip(dims, weights, strict=True))
        return tuple(d for d, _ in pairs), tuple(w for _, w in pairs)


class OptimConfig(Strict):
    lr: float = Field(2e-5, gt=0)
    scale_lr: float = Field(1e-3, ge=0)  # tau learns faster than the weights
    weight_decay: float = Field(0.01, ge=0)
    betas: tuple[float, float] = (0.9, 0.98)
    warmup_steps: int = Field(100, ge=0)
    max_steps: int = Field(1000, ge=1)
    # Wall-clock minutes for the steps (model loading and saving aside): the run's length is
    # fixed from its first measured steps, at most max_steps (train/schedule.py). None: steps.
    max_minutes: float | None = Field(None, gt=0)
    min_lr_ratio: float = Field(0.1, ge=0, le=1)
    grad_clip: float = Field(1.0, gt=0)


class DataConfig(Strict):
    batch_size: int = Field(256, ge=2)  # global batch: pairs contrasted against each other
    chunk_size: int = Field(0, ge=0)  # gradient-cache mini-batch; 0 embeds the batch at once
    seed: int = 0
    hard_negatives: int = Field(0, ge=0)  # per pair, from the shard's `negatives` column
    prefetch: int = Field(2, ge=0)  # steps prepared ahead in a background thread; 0: inline
    # Each chunk's sequences packed into rows of max_length tokens, not padded to its longest:
    # no FLOPs on padding, one width for every chunk (model/packing.py). Same loss, gradients.
    pack: bool = False


class TrainConfig(Strict):
    model: ModelConfig = ModelConfig()
    loss: LossConfig = LossConfig()
    optim: OptimConfig = OptimConfig()
    data: DataConfig = DataConfig()
    precision: Precision = "auto"  # auto: bf16 autocast where the device computes it natively
    compile: bool = False  # torch.compile the backbone; padded widths then round up to 16
    shard: bool = False  # FSDP2 under torchrun: each rank holds 1/N of weights and optimiser
    log_every: int = Field(1, ge=1)
    checkpoint_every: int = Field(100, ge=1)
    keep_checkpoints: int = Field(2, ge=1)

    def digest(self) -> str:
        """Stable hash of what a checkpoint must match to resume: the whole configuration but
        the run's length (steps, minutes) and bookkeeping, so raising max_steps on --resume
        extends a run."""
        body = self.model_dump(mode="json")
        body["optim"].pop("max_steps")
        body["optim"].pop("max_minutes")
        body["data"].pop("prefetch")
        for key in ("log_every", "checkpoint_every", "keep_checkpoints"):
            body.pop(key)
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]

    def model_meta(
        self, logit_scale: float, steps: int, manifests: list[dict], dims: tuple[int, ...] = ()
    ) -> CptMeta:
        """What the model folder's cpt.json records about how these weights were made."""
        return CptMeta(
            matryoshka_dims=list(dims),
            base_model=self.model.name,
            delimiters=self.model.delimiters,
            max_length=self.model.max_length,
            logit_scale=logit_scale,
            train_config=self.model_dump(mode="json"),
            data_manifests=manifests,
            steps=steps,
        )


def load_config(path: str | Path | None = None, /, **overrides: object) -> TrainConfig:
    """Read a training preset (or the defaults) with dotted overrides like `optim.lr=1e-4`."""
    return load_preset(TrainConfig, path, **overrides)


def continue_from(model: str | Path) -> dict:
    """Overrides that start training from an earlier cpt model instead of the preset's base:
    its weights, its delimiters and its learned temperature."""
    meta = read_meta(Path(model))
    if meta is None:
        raise CptError(f"cannot continue training from {model}: it has no cpt.json")
    start = {"model.name": str(model), "model.delimiters": meta.delimiters.model_dump()}
    return start | ({"loss.init_scale": meta.logit_scale} if meta.logit_scale else {})
