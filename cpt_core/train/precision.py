"""Which precision a run computes in, resolved once against the device it runs on.

`auto` is bf16 autocast wherever the device computes bf16 natively (CUDA, and CPUs with
AVX512-BF16 or AMX, where a training step measured faster: BENCHMARKS.md) and fp32 elsewhere.
Weights, optimiser state and the loss stay in fp32 either way. Asking for bf16 on a device
that would emulate it is an error, never a silent fp32 (or a slow emulated) run.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import torch

from cpt_core.errors import CptError
from cpt_core.model.bf16 import native_bf16
from cpt_core.train.config import Precision


def uses_bf16(precision: Precision, device: torch.device) -> bool:
    native = native_bf16(device.type)
    if precision == "bf16" and not native:
        raise CptError(
            "precision: bf16 needs a GPU or a CPU with AVX512-BF16 or AMX, and this CPU has "
            "neither; use precision: fp32 (or auto)"
        )
    return precision == "bf16" or (precision == "auto" and native)


def autocast(precision: Precision, device: torch.device) -> AbstractContextManager:
    if uses_bf16(precision, device):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()
