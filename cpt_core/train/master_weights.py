"""bf16 weights for the forward and backward, float32 master weights for the optimiser.

Under autocast the model's weights stay float32 and every op casts what it reads: the weights
(cached within a step), and the activations, since the residual stream between layers stays
float32 too; each cast is a kernel of its own, and autocast's dispatch runs for every op. Here
the live model holds its weights in bf16, so the whole forward and backward run in bf16 with
nothing to cast, while a float32 twin of the model (same names, same tied weights) holds the
master weights: the optimiser steps the twin, checkpoints and the saved model are the twin's
(float32, as before), and after each step the live weights are copied from it.

Gradients are summed in float32: as each backward leaves a bf16 gradient on a live weight, a
hook adds it into the twin's float32 gradient and frees it. So a gradient-cache step's many
chunk backwards accumulate as precisely as under autocast, and an update smaller than bf16 can
represent is kept in the master instead of rounding away (the reason mixed precision keeps
masters; Micikevicius et al., 2018). Memory: the twin's 4 bytes and the live copy's 2 per
weight, against autocast's 4 plus its cached 2: the same.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn


class MasterWeights:
    """`live` is cast to `dtype` in place; `twin` holds its float32 masters. The optimiser,
    gradient clipping, reduction over ranks and checkpoints work on `twin`; call `push` after
    each optimiser step (and after loading a checkpoint into `twin`)."""

    def __init__(self, live: nn.Module, dtype: torch.dtype = torch.bfloat16):
        self.twin = copy.deepcopy(live)  # before the cast: masters start at the exact weights
        self.pairs = [
            (weight, master)
            for weight, master in zip(live.parameters(), self.twin.parameters(), strict=True)
            if weight.requires_grad
        ]
        self.on_accumulated: Callable[[nn.Parameter], None] | None = None  # a reducer's
        for weight, master in self.pairs:
            weight.data = weight.data.to(dtype)  # buffers (rotary frequencies) stay as they are
            weight.register_post_accumulate_grad_hook(self._accumulator(master))

    def _accumulator(self, master: nn.Parameter) -> Callable[[torch.Tensor], None]:
        def accumulate(weight: torch.Tensor) -> None:
            if master.grad is None:
                master.grad = weight.grad.to(master.dtype)
            else:
                master.grad.add_(weight.grad)
            weight.grad = None
            if self.on_accumulated is not None:
                self.on_accumulated(master)

        return accumulate

    @torch.no_grad()
    def push(self) -> None:
        """The live weights from the masters (rounded to the live dtype)."""
        live, masters = zip(*self.pairs, strict=True)
        torch._foreach_copy_(list(live), list(masters))
