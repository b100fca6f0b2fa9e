"""Training on every device a machine has: in this process for one, under torchrun for several.

A pipeline stage (or a Prefect task on a GPU work pool) calls `train_on_devices` and gets the
same model folder either way; with several devices each rank contrasts its share of the batch
against the whole global batch (cross-device negatives, cpt_core/dist). The device count comes
from the preset, else CPT_TRAIN_DEVICES (a work pool's job variable), else every visible GPU.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import torch

from cpt_core.errors import CptError
from cpt_core.train.config import load_config


def device_count(requested: int | None = None) -> int:
    """The preset's choice, else $CPT_TRAIN_DEVICES, else the visible GPUs (1 on CPU)."""
    if requested:
        return requested
    chosen = os.environ.get("CPT_TRAIN_DEVICES", "auto")
    if chosen == "auto":
        return max(1, torch.cuda.device_count())
    if not chosen.isdigit() or int(chosen) < 1:
        raise CptError(f"CPT_TRAIN_DEVICES must be 'auto' or a count >= 1, got '{chosen}'")
    return int(chosen)


def train_on_devices(
    preset: Path, overrides: dict, pairs: Path, out: Path, devices: int | None = None
) -> Path:
    """Train (resuming from the last checkpoint in `out`, if any); return the model folder."""
    count = device_count(devices)
    if count == 1:
        from cpt_core.train.trainer import train

        return train(load_config(preset, **overrides), pairs, out, resume=True)
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(count)]
    command += ["--master-addr", "127.0.0.1", "--master-port", str(free_port())]
    command += ["-m", "cpt_core.cli", "train", "--pairs", str(pairs), "--out", str(out)]
    command += ["--config", str(preset), "--resume"]
    for key, value in overrides.items():
        command += ["--set", f"{key}={json.dumps(value)}"]
    print(f"[train] torchrun on {count} devices: {' '.join(command)}", file=sys.stderr)
    finished = subprocess.run(command, check=False)
    if finished.returncode != 0:
        raise RuntimeError(f"torchrun training exited with {finished.returncode}; see its log")
    return out / "model"


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on now: the rendezvous of a local torchrun."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
