"""Checkpoints that resume exactly: weights, optimiser, schedule, RNG states, data position.

Each checkpoint is written into a hidden temp folder and renamed to `step-NNNNNNN` only once
complete, so the newest visible checkpoint is always whole, whatever moment the process died.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from cpt_core.data.batches import BatcherState
from cpt_core.errors import CptError


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
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{state.step:07d}"
    staging = root / f".{final.name}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    tensors = {k: v.detach().contiguous().cpu() for k, v in modules.state_dict().items()}
    save_file(tensors, staging / "weights.safetensors")
    torch.save(
        {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()},
        staging / "optimizer.pt",
    )
    torch.save(_rng_states(), staging / "rng.pt")
    body = {"step": state.step, "config": state.config_digest, "data": state.data.to_json()}
    (staging / "state.json").write_text(json.dumps(body) + "\n")
    shutil.rmtree(final, ignore_errors=True)
    os.replace(staging, final)
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
    modules.load_state_dict(load_file(path / "weights.safetensors"), strict=True)
    saved = torch.load(path / "optimizer.pt", weights_only=False)
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    _set_rng_states(torch.load(path / "rng.pt", weights_only=False))
    return TrainState(body["step"], BatcherState.from_json(body["data"]), body["config"])


def _rng_states() -> dict:
    states = {"python": random.getstate(), "numpy": np.random.get_state()}
    states["torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _set_rng_states(states: dict) -> None:
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
