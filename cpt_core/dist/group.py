"""Cross-device negatives: every rank contrasts its pairs against the global batch.

Embeddings are all-gathered *with* gradient (torch.distributed.nn's all_gather sums the
gradients flowing back into each rank's slice), each rank computes its share of the global
loss, and parameter gradients are summed across ranks. The result equals one process training
on the union batch, which tests check to float64 precision.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_fn
from torch import nn


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_world() -> World:
    """Join the process group torchrun describes in the environment; one process otherwise."""
    if "RANK" not in os.environ or int(os.environ.get("WORLD_SIZE", "1")) == 1:
        return World()
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return World(dist.get_rank(), dist.get_world_size())


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def gather(tensor: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Concatenate every rank's rows (with gradient); also return this rank's row offset."""
    if not active():
        return tensor, 0
    parts = dist_fn.all_gather(tensor.contiguous())
    return torch.cat(parts, dim=0), dist.get_rank() * tensor.shape[0]


def reduce_sum(value: torch.Tensor) -> torch.Tensor:
    if active():
        value = value.clone()
        dist.all_reduce(value)
    return value


def reduce_gradients(params: list[nn.Parameter]) -> None:
    """Sum parameter gradients over ranks: each rank holds its share of one global loss."""
    if not active():
        return
    grads = [p.grad for p in params if p.grad is not None]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()
