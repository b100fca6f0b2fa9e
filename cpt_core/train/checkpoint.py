"""Checkpoints that resume exactly: weights, optimiser, schedule, RNG states, data position.

Each checkpoint is written whole or not at all (cpt_core.staging) as `step-NNNNNNN`, so
the newest visible checkpoint is always whole, whatever moment the process died.

The `.pt` files hold only tensors and plain values (numpy's RNG key is stored as a list), so
they load with `weights_only=True`: a planted pickle in a run folder cannot run code. They load
with `map_location="cpu"`, so a checkpoint written on a GPU resumes on a CPU-only machine (the
optimiser moves its state onto the parameters' device itself).
"""

from __future__ import annotations

import json
import pickle
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from cpt_core.data.batches import BatcherState
from cpt_core.dist.shard import full_state, load_full_state, load_optimizer_state, optimizer_state
from cpt_core.errors import CptError
from cpt_core.staging import atomic_dir


@dataclass
class TrainState:
    step: int
    data: BatcherState
    config_digest: str


def save_checkpoint(
    root: Path,
    state: TrainState,
    modules: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    keep: int,
    writer: bool = True,
) -> Path | None:
    """Every rank calls this (sharded weights are gathered collectively); the `writer` writes."""
    tensors = full_state(modules)
    optimizer_body = optimizer_state(modules, optimizer)
    if not writer:
        return None
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{state.step:07d}"
    with atomic_dir(final) as staging:
        save_file(tensors, staging / "weights.safetensors")
        torch.save(
            {"optimizer": optimizer_body, "scheduler": scheduler.state_dict()},
            staging / "optimizer.pt",
        )
        torch.save(_rng_states(), staging / "rng.pt")
        body = {"step": state.step, "config": state.config_digest, "data": state.data.to_json()}
        (staging / "state.json").write_text(json.dumps(body) + "\n")
    for old in checkpoints(root)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def checkpoints(root: Path) -> list[Path]:
    return sorted(root.glob("step-*")) if root.is_dir() else []


def load_checkpoint(
    path: Path,
    modules: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    config_digest: str,
) -> TrainState:
    body = json.loads((path / "state.json").read_text())
    if body["config"] != config_digest:
        raise CptError(
            f"{path} was written with another training config; resume with the same config"
        )
    load_full_state(modules, load_file(path / "weights.safetensors"))
    saved = _load_plain(path / "optimizer.pt")
    load_optimizer_state(modules, optimizer, saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    _set_rng_states(_load_plain(path / "rng.pt"))
    return TrainState(body["step"], BatcherState.from_json(body["data"]), body["config"])


def _load_plain(file: Path) -> dict:
    try:
        return torch.load(file, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError:
        raise CptError(
            f"{file} holds more than tensors and plain values; refusing to unpickle it "
            "(tampered, or written by an older cpt): start the run afresh in a new --out"
        ) from None


def _rng_states() -> dict:
    name, key, *rest = np.random.get_state()
    states = {"python": random.getstate(), "numpy": (name, key.tolist(), *rest)}
    states["torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _set_rng_states(states: dict) -> None:
    random.setstate(states["python"])
    name, key, *rest = states["numpy"]
    np.random.set_state((name, np.asarray(key, dtype=np.uint32), *rest))
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
