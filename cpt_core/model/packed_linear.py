"""Linear layers whose bf16 weights oneDNN has laid out once, for inference on a CPU.

A plain `nn.Linear` in bfloat16 on a CPU goes through oneDNN too, but reorders its weight into
the blocked layout the AMX/AVX512-BF16 kernels read on every call. Reordering once at load
time, as PyTorch's own CPU inference path does when it freezes a graph
(`torch._inductor.config.freezing`), takes the matmuls of a 135M decoder's forward over 960
tokens from ~0.40 s to ~0.29 s on 2 cores, and whole encodes ~1.16x faster
(bench/packed_linear.py; BENCHMARKS.md), with results to bf16's noise. float32 weights gain
nothing (measured), so only bf16 ones are packed.

Only where oneDNN has a bf16 path (AVX512 BW/VL/DQ, AVX-NE-CONVERT or better: `onednn_bf16`);
on an AVX2-only CPU a bf16 model stays plain and still runs. Inference only: a packed layer has
no gradient, and a model is packed where it is loaded to embed (the Embedder, the
sentence-transformers baseline), never where it is trained or exported.
"""

from __future__ import annotations

import torch
from torch import nn

from cpt_core.model.bf16 import onednn_bf16


class PackedLinear(nn.Module):
    """`nn.Linear`'s forward on a weight oneDNN reordered at construction."""

    def __init__(self, linear: nn.Linear):
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        weight = linear.weight.detach()
        self.register_buffer("packed", torch.ops.mkldnn._reorder_linear_weight(weight))
        bias = linear.bias.detach() if linear.bias is not None else None
        self.register_buffer("bias", bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.mkldnn._linear_pointwise(x, self.packed, self.bias, "none", [], "")

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, packed"


def can_pack(module: nn.Module) -> bool:
    """bf16 weights on a CPU whose oneDNN has a bf16 path (cpt_core/model/bf16.py), with a
    PyTorch built with oneDNN. Elsewhere bf16 layers still run, plain."""
    first = next(module.parameters(), None)
    return (
        first is not None
        and first.device.type == "cpu"
        and first.dtype == torch.bfloat16
        and torch.backends.mkldnn.is_available()
        and onednn_bf16("cpu")
    )


def pack_linears(module: nn.Module) -> int:
    """Replace every bf16 `nn.Linear` under `module` (on a CPU) by a PackedLinear, in place;
    how many were replaced. A module that cannot be packed (`can_pack`) is left as it is."""
    if not can_pack(module):
        return 0
    packed = 0
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.Linear and child.weight.dtype == torch.bfloat16:
                setattr(parent, name, PackedLinear(child))
                packed += 1
    return packed
