"""Whether a device computes bfloat16 natively, which decides inference and training precision.

CUDA GPUs do; an x86 CPU does when it has AVX512-BF16 or AMX (bf16 matmuls then run about twice
as fast as float32). Elsewhere bf16 is emulated and slower than float32, so it is never chosen
silently.
"""

from __future__ import annotations

from pathlib import Path


def native_bf16(device: str) -> bool:
    if device.startswith("cuda"):
        return True
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags
