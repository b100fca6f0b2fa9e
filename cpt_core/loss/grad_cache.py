"""Gradient cache (Gao et al., 2021): a contrastive step whose memory does not grow with batch.

The loss couples every pair in the batch, but its gradient w.r.t. the *embeddings* is small
(M x d). So: (1) embed the whole batch chunk by chunk without a graph, (2) compute the loss on
those embeddings as leaves and backpropagate to get d loss / d embedding, (3) re-embed each
chunk with a graph and backpropagate that cached gradient into the parameters. Peak
activation memory is one chunk's; the price is one extra forward pass (~1.33x the plain step).

Chunks are made of length-sorted sequences, so each is padded only to its own longest member:
a free speed-up, since the loss does not care how the batch is chunked. Each chunk's RNG state
is recorded in pass (1) and replayed in pass (3), so dropout masks match.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from cpt_core.loss.contrastive import LogitScale, LossOutput, contrastive_loss
from cpt_core.model.encoder import Encoder


@dataclass
class PairBatch:
    """Token ids per side (delimiters included); negatives are k per pair, flattened."""

    queries: list[list[int]]
    documents: list[list[int]]
    negatives: list[list[int]] | None = None

    def sides(self) -> list[list[list[int]]]:
        return [self.queries, self.documents] + ([self.negatives] if self.negatives else [])

    @property
    def tokens(self) -> int:
        return sum(len(s) for side in self.sides() for s in side)


class RngSnapshot:
    """The CPU and CUDA generator states at one moment, replayable later."""

    def __init__(self) -> None:
        self.cpu = torch.get_rng_state()
        self.cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None

    @contextmanager
    def replay(self) -> Iterator[None]:
        devices = list(range(torch.cuda.device_count())) if self.cuda is not None else []
        with torch.random.fork_rng(devices=devices):
            torch.set_rng_state(self.cpu)
            if self.cuda is not None:
                torch.cuda.set_rng_state_all(self.cuda)
            yield


def contrastive_step(
    encoder: Encoder, scale: LogitScale, batch: PairBatch, chunk_size: int = 0
) -> LossOutput:
    """Forward and backward for one batch; gradients accumulate into the parameters.

    chunk_size 0 (or >= the batch) runs the plain full-batch step; anything smaller runs the
    gradient cache with the same gradients.
    """
    if chunk_size <= 0 or chunk_size >= len(batch.queries):
        embeddings = [encoder(encoder.tokenizer.collate(side)) for side in batch.sides()]
        output = contrastive_loss(*embeddings[:2], scale(), *embeddings[2:])
        output.loss.backward()
        return output
    plans = [_chunks(side, chunk_size) for side in batch.sides()]
    leaves, snapshots = [], []
    with torch.no_grad():
        for side, plan in zip(batch.sides(), plans, strict=True):
            reps: torch.Tensor | None = None
            side_snapshots = []
            for index in plan:
                side_snapshots.append(RngSnapshot())
                chunk = encoder(encoder.tokenizer.collate([side[i] for i in index]))
                if reps is None:
                    reps = chunk.new_empty(len(side), chunk.shape[1])
                reps[index.to(chunk.device)] = chunk
            leaves.append(reps.requires_grad_())
            snapshots.append(side_snapshots)
    output = contrastive_loss(*leaves[:2], scale(), *leaves[2:])
    output.loss.backward()
    for side, plan, leaf, side_snapshots in zip(
        batch.sides(), plans, leaves, snapshots, strict=True
    ):
        for index, snapshot in zip(plan, side_snapshots, strict=True):
            with snapshot.replay():
                chunk = encoder(encoder.tokenizer.collate([side[i] for i in index]))
            chunk.backward(gradient=leaf.grad[index.to(leaf.device)])
    return output


def _chunks(sequences: list[list[int]], size: int) -> list[torch.Tensor]:
    order = sorted(range(len(sequences)), key=lambda i: -len(sequences[i]))
    return [torch.tensor(order[i : i + size]) for i in range(0, len(order), size)]
