"""Gradient all-reduce in buckets, overlapped with the backward pass that produces them.

DDP's reducer does this, but DDP cannot wrap cpt's step: the gradient cache runs several
forwards and backwards per optimiser step, and the plain step embeds each side in its own
forward. So the same idea is applied directly: parameters are grouped into ~25 MB buckets in
reverse order (the order backward reaches them), each parameter's gradient-accumulation hook
counts its contributions, and a bucket's all-reduce starts, asynchronously, as soon as all of
its gradients are final, while backward goes on through earlier layers. The sums equal the
unbucketed all-reduce, so two ranks still equal one process on the union batch.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn

BUCKET_BYTES = 25 * 2**20  # DDP's default bucket_cap_mb


class _Bucket:
    def __init__(self, params: list[nn.Parameter]):
        self.params = params
        self.ready = 0
        self.flat: torch.Tensor | None = None
        self.work: dist.Work | None = None

    def launch(self) -> None:
        grads = [p.grad for p in self.params if p.grad is not None]
        if grads:
            self.flat = torch.cat([g.reshape(-1) for g in grads])
            self.work = dist.all_reduce(self.flat, async_op=True)

    def finish(self) -> None:
        if self.work is None:
            return
        self.work.wait()
        offset = 0
        for p in self.params:
            if p.grad is not None:
                p.grad.copy_(self.flat[offset : offset + p.grad.numel()].view_as(p.grad))
                offset += p.grad.numel()
        self.flat = self.work = None


class OverlappedReducer:
    """Sums gradients over ranks; `arm` before a step's backwards, `finish` after them."""

    def __init__(self, params: list[nn.Parameter], bucket_bytes: int = BUCKET_BYTES):
        self.buckets: list[_Bucket] = []
        self._bucket_of: dict[nn.Parameter, _Bucket] = {}
        self._expected = 0
        self._count: dict[nn.Parameter, int] = {}
        current: list[nn.Parameter] = []
        size = 0
        for p in reversed(params):
            current.append(p)
            size += p.numel() * p.element_size()
            if size >= bucket_bytes:
                self._close(current)
                current, size = [], 0
        if current:
            self._close(current)
        for p in params:
            p.register_post_accumulate_grad_hook(self.accumulated)

    def _close(self, params: list[nn.Parameter]) -> None:
        bucket = _Bucket(params)
        self.buckets.append(bucket)
        for p in params:
            self._bucket_of[p] = bucket

    def arm(self, backwards: int) -> None:
        """The next `backwards` backward passes through the parameters make one step."""
        self._expected = backwards
        self._count = dict.fromkeys(self._bucket_of, 0)
        for bucket in self.buckets:
            bucket.ready = 0

    def accumulated(self, param: nn.Parameter) -> None:
        """`param`'s gradient took one more contribution: its hook, or the hook of the bf16
        weight whose float32 master it is (train/master_weights.py)."""
        if not self._expected:
            return
        self._count[param] += 1
        if self._count[param] == self._expected:
            bucket = self._bucket_of[param]
            bucket.ready += 1
            if bucket.ready == len(bucket.params):
                bucket.launch()

    def finish(self) -> None:
        """Launch what is left (parameters that backward did not reach, like the logit scale,
        whose gradient comes from the loss alone), wait for every bucket, unarm."""
        for bucket in self.buckets:
            if bucket.work is None and bucket.ready < len(bucket.params):
                bucket.launch()
        for bucket in self.buckets:
            bucket.finish()
        self._expected = 0
