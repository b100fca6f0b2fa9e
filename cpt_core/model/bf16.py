"""How a device computes bfloat16, which decides inference and training precision and whether
linear weights can be packed for oneDNN.

CUDA GPUs compute bf16 natively. An x86 CPU is at one of three levels, all read from one probe:
- `native`: AVX512-BF16 or AMX-BF16 multiply bf16 directly; bf16 matmuls run about twice as
  fast as float32, so inference and training default to bf16.
- `onednn`: no bf16 arithmetic, but oneDNN has a bf16 path (AVX512 BW+VL+DQ, or AVX-NE-CONVERT:
  the instructions its bf16 kernels convert with), so bf16 weights can be packed; bf16 is not
  faster than float32 there, so it is never the default.
- `emulated`: anything else (an AVX2-only CPU, such as many AMD EPYCs in the cloud). bf16 works
  when asked, through PyTorch's reference kernels, slower than float32; oneDNN refuses to
  reorder bf16 weights ("bf16 path needs the cpu support avx_ne_convert or avx512bw, avx512vl
  and avx512dq"), so nothing is packed.
The levels nest (`native` CPUs have BW+VL+DQ), so the precision default and packing never
disagree about a CPU. An ARM CPU with the BF16 extension passes oneDNN's ARM check, so it is at
`onednn`: bf16 was never measured faster there, and the default stays float32 as before.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

import torch

CpuBf16 = Literal["native", "onednn", "emulated"]

# Names as torch.cpu.get_capabilities() spells them; /proc/cpuinfo drops the underscores in
# avx512_bw/vl/dq only (read where an older torch build lacks the probe).
_CPUINFO_NAMES = {"avx512_bw": "avx512bw", "avx512_vl": "avx512vl", "avx512_dq": "avx512dq"}


@cache
def _capabilities() -> dict[str, bool]:
    probe = getattr(torch.cpu, "get_capabilities", None)
    if probe is not None:
        return {name: value is True for name, value in probe().items()}
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        flags = set()
    names = ("avx512_bf16", "amx_bf16", "avx_ne_convert", "bf16", *_CPUINFO_NAMES)
    return {name: _CPUINFO_NAMES.get(name, name) in flags for name in names}


def cpu_bf16_level(capabilities: dict[str, bool] | None = None) -> CpuBf16:
    """This CPU's bf16 level (see the module's docstring); `capabilities` for a CPU described
    rather than probed."""
    has = (capabilities if capabilities is not None else _capabilities()).get
    if has("avx512_bf16") or has("amx_bf16"):
        return "native"
    if has("avx512_bw") and has("avx512_vl") and has("avx512_dq"):
        return "onednn"
    if has("avx_ne_convert") or has("bf16"):
        return "onednn"
    return "emulated"


def native_bf16(device: str) -> bool:
    """Whether bf16 is the fast precision on `device` (a CUDA GPU, or a `native` CPU)."""
    return device.startswith("cuda") or (device == "cpu" and cpu_bf16_level() == "native")


def onednn_bf16(device: str) -> bool:
    """Whether oneDNN can run bf16 linears on `device` (a CPU at the `native` or `onednn`
    level), which packing needs."""
    return device == "cpu" and cpu_bf16_level() != "emulated"


def inference_dtype(device: str, name: str = "auto") -> torch.dtype:
    """bfloat16 where it is fast (CUDA; CPUs with native bf16), float32 elsewhere; an explicit
    name is honoured on any device."""
    if name != "auto":
        return {"float32": torch.float32, "bfloat16": torch.bfloat16}[name]
    return torch.bfloat16 if native_bf16(device) else torch.float32
