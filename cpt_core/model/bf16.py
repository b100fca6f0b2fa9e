"""Whether a device computes bfloat16 natively, which decides inference and training precision.

CUDA GPUs do; an x86 CPU does when it has AVX512-BF16 or AMX (bf16 matmuls then run about twice
as fast as float32). Elsewhere bf16 is emulated and slower than float32, so it is never chosen
silently.
"""

from __future__ import annotations

from pathlib import Path

import torch


def native_bf16(device: str) -> bool:
    if device.startswith("cuda"):
        return True
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def inference_dtype(device: str, name: str = "auto") -> torch.dtype:
    """bfloat16 where it is fast (CUDA; x86 CPUs with native bf16), float32 elsewhere."""
    if name != "auto":
        return {"float32": torch.float32, "bfloat16": torch.bfloat16}[name]
    return torch.bfloat16 if native_bf16(device) else torch.float32
