"""The attention mask of a training forward, built on the device without a host sync.

Given a 2D padding mask, or packed rows with no mask, transformers builds the 4D mask itself,
and first asks whether one is needed at all (`padding_mask.all()`; whether any row holds several
sequences): a read of a device tensor, which makes the host wait for the GPU before every
forward. A gradient-cache step at batch 4096 runs dozens of forwards, and after each wait the
GPU idles while the host launches the next kernels. Here the same mask is built from the same
tensors with elementwise ops only and handed over in 4D, which transformers passes through as
it is (bf16 weights or not, eager attention or SDPA; other kernels, such as flash attention's
variable-length path, keep transformers' own handling).

A token attends to the earlier tokens of its own sequence, and a pad token to itself alone, so
no row is empty (softmax over nothing is NaN) and no real token sees a pad.
"""

from __future__ import annotations

import torch

READY_MASK_KERNELS = ("eager", "sdpa")


def ready_mask(
    valid: torch.Tensor, positions: torch.Tensor, implementation: str, dtype: torch.dtype
) -> torch.Tensor | None:
    """The 4D mask for `valid` (1 for real tokens) and `positions` (restarting at 0 with each
    sequence, packed or padded): boolean for SDPA, additive in `dtype` for eager attention;
    None where `implementation` takes no ready mask."""
    if implementation not in READY_MASK_KERNELS:
        return None
    starts = (positions == 0) | (valid == 0)  # a sequence's first token; every pad alone
    sequence = starts.cumsum(dim=-1)
    width = positions.shape[-1]
    causal = torch.ones(width, width, dtype=torch.bool, device=positions.device).tril()
    allowed = (sequence[:, :, None] == sequence[:, None, :]) & causal
    allowed = allowed[:, None]  # one mask for every head
    if implementation == "sdpa":
        return allowed
    blocked = torch.zeros(allowed.shape, dtype=dtype, device=allowed.device)
    return blocked.masked_fill(~allowed, torch.finfo(dtype).min)
