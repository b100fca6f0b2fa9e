"""Batches cut by a token budget: the longest sequence times the count stays under it.

A forward pass costs what its padded tensor holds, so batches are sized in tokens, not texts
(as text-embeddings-inference does): long documents go a few at a time, short queries many.
On 2 CPU cores bigger batches run slower per text (they spill out of cache); 1024 padded
tokens measured best there, for the server and for evaluation alike (BENCHMARKS.md). A GPU
wants far larger ones. Both the server's batcher and `Embedder.encode` cut batches here.
"""

from __future__ import annotations

import torch

CPU_BATCH_TOKENS = 1024
GPU_BATCH_TOKENS = 16384


def default_batch_tokens(device: str | torch.device | None = None) -> int:
    """What measured fastest on `device` (by default, the one a model would be put on)."""
    kind = torch.device(device).type if device is not None else None
    if kind is None:
        kind = "cuda" if torch.cuda.is_available() else "cpu"
    return GPU_BATCH_TOKENS if kind == "cuda" else CPU_BATCH_TOKENS


def token_batches(
    lengths: list[int], max_tokens: int, max_count: int | None = None
) -> list[list[int]]:
    """Indices of `lengths`, longest first, cut so that each batch's longest length times its
    count is at most `max_tokens` (a sequence longer than the budget goes alone), and its count
    at most `max_count`."""
    if max_count is not None and max_count < 1:
        raise ValueError(f"a batch must hold at least one text, not {max_count}")
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    batch: list[int] = []
    for index in order:
        full = max_count is not None and len(batch) == max_count
        if batch and (full or lengths[batch[0]] * (len(batch) + 1) > max_tokens):
            batches.append(batch)
            batch = []
        batch.append(index)
    if batch:
        batches.append(batch)
    return batches
