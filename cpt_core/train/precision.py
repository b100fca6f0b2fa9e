"""Which precision a run computes in, resolved once against the device it runs on.

- `fp32`: float32 throughout.
- `bf16`: bf16 autocast over float32 weights.
- `bf16-weights`: the weights themselves in bf16 for the forward and backward, float32 master
  weights and gradient sums for the optimiser (train/master_weights.py): nothing is cast per
  op, and the activations between layers are bf16 too.
- `auto`: bf16 autocast wherever the device computes bf16 natively (CUDA, and CPUs with
  AVX512-BF16 or AMX, where a training step measured faster: BENCHMARKS.md), fp32 elsewhere.

Optimiser state, the loss and the saved model stay float32 in every mode. Asking for bf16 on a
device that would emulate it is an error, never a silent fp32 (or a slow emulated) run.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import torch

from cpt_core.errors import CptError
from cpt_core.model.bf16 import native_bf16
from cpt_core.train.config import Precision


def resolve(precision: Precision, device: torch.device) -> Precision:
    """`auto` made concrete for `device`; an explicit bf16 mode checked against it."""
    native = native_bf16(device.type)
    if precision.startswith("bf16") and not native:
        raise CptError(
            f"precision: {precision} needs a GPU or a CPU with AVX512-BF16 or AMX, and this CPU "
            "has neither; use precision: fp32 (or auto)"
        )
    if precision == "auto":
        return "bf16" if native else "fp32"
    return precision


def autocast(resolved: Precision, device: torch.device) -> AbstractContextManager:
    """The context a step runs in: autocast for `bf16` alone (bf16 weights need none)."""
    if resolved == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()
