"""Checkpoints that resume exactly: weights, optimiser, schedule, RNG states, data position.

Each checkpoint is written whole or not at all (cpt_core.staging) as `step-NNNNNNN`, so
the newest visible checkpoint is always whole, whatever moment the process died.

Writing happens on a background thread (`Checkpointer`): the step's state is copied to host
memory, and training goes on while the copy is written and synced. A checkpoint of SmolLM2-135M
is 1.6 GB (weights and AdamW's two moments in float32); written in line, one stalled the demo's
training for up to 20 s, mostly waiting on the disk.

The `.pt` files hold only tensors and plain values (numpy's RNG key is stored as a list), so
they load with `weights_only=True`: a planted pickle in a run folder cannot run code. They load
with `map_location="cpu"`, so a checkpoint written on a GPU resumes on a CPU-only machine (the
optimiser moves its state onto the parameters' device itself).
"""

from __future__ import annotations

import copy
import json
import logging
import pickle
import random
import shutil
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from cpt_core.data.pair_batches import BatcherState
from cpt_core.dist.shard import (
    full_state,
    is_sharded,
    load_full_state,
    load_optimizer_state,
    optimizer_state,
)
from cpt_core.errors import CptError
from cpt_core.staging import atomic_dir

log = logging.getLogger(__name__)


@dataclass
class TrainState:
    step: int
    data: BatcherState
    config_digest: str


class Checkpointer:
    """Checkpoints of one run into `root`, the newest `keep` kept. `save` copies what it is
    given and returns; the copy is written on a background thread, one checkpoint at a time. The
    next `save`, and leaving the `with` block, wait for the write before it and raise its error
    here. Every rank calls `save` (sharded weights are gathered collectively); only the
    `writer` rank writes."""

    def __init__(self, root: Path, keep: int, writer: bool = True):
        self.root, self.keep, self.writer = root, keep, writer
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="cpt-checkpoint")
        self._pending: Future | None = None

    def save(
        self,
        state: TrainState,
        modules: nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler,
    ) -> None:
        self.wait()  # so that one copy at most is held (only the writer ever has one pending)
        if not (self.writer or is_sharded(modules)):
            return  # nothing to gather, nothing to write
        # copies on the host, gathered from every rank when sharded
        weights, moments = full_state(modules), optimizer_state(modules, optimizer)
        if not self.writer:
            return
        body = {"optimizer": moments, "scheduler": copy.deepcopy(scheduler.state_dict())}
        rng = _rng_states()  # this step's, not the write's
        self._pending = self._thread.submit(self._write, state, weights, body, rng)

    def wait(self) -> None:
        """Until the last checkpoint is on disk; its write's error, if any, is raised here."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def __enter__(self) -> Checkpointer:
        return self

    def __exit__(self, kind, error, trace) -> None:
        try:
            self.wait()
        except Exception:
            if error is None:
                raise
            log.exception("the last checkpoint could not be written either")
        finally:
            self._thread.shutdown()

    def _write(self, state: TrainState, tensors: dict, body: dict, rng: dict) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        final = self.root / f"step-{state.step:07d}"
        with atomic_dir(final) as staging:
            save_file(tensors, staging / "weights.safetensors")
            torch.save(body, staging / "optimizer.pt")
            torch.save(rng, staging / "rng.pt")
            meta = {"step": state.step, "config": state.config_digest, "data": state.data.to_json()}
            (staging / "state.json").write_text(json.dumps(meta) + "\n")
        for old in checkpoints(self.root)[: -self.keep]:
            shutil.rmtree(old, ignore_errors=True)


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
