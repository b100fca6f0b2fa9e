"""Gradient cache (Gao et al., 2021): a contrastive step whose memory does not grow with batch.

The loss couples every pair in the batch, but its gradient w.r.t. the *embeddings* is small
(M x d). So: (1) embed the whole batch chunk by chunk without a graph, (2) compute the loss on
those embeddings as leaves and backpropagate to get d loss / d embedding, (3) re-embed each
chunk with a graph and backpropagate that cached gradient into the parameters. Peak
activation memory is one chunk's; the price is one extra forward pass (~1.33x the plain step).
The last chunk of pass (1) keeps its graph, since pass (3) would rebuild it at once: one
forward fewer per step, at no extra memory.

Chunks are made of length-sorted sequences, so each is padded only to its own longest member:
a free speed-up, since the loss does not care how the batch is chunked. Chunking and padding
happen in `PairBatch.prepare`, which the trainer runs ahead of the step, off the main thread.
Where the model draws random numbers (dropout in training mode), each chunk's RNG state is
recorded in pass (1) and replayed in pass (3), so dropout masks match; elsewhere (SmolLM2, Qwen,
Gemma: no dropout) nothing is recorded, since a snapshot of every CUDA generator costs a host
sync per chunk.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import torch
from torch import nn

from cpt_core.loss.contrastive import LogitScale, LossOutput, contrastive_loss
from cpt_core.loss.matryoshka import Loss
from cpt_core.model.delimiters import Batch, DelimitedTokenizer
from cpt_core.model.encoder import Encoder
from cpt_core.model.packing import pack, packed_chunks


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

    def prepare(
        self,
        tokenizer: DelimitedTokenizer,
        chunk_size: int = 0,
        pin: bool = False,
        pad_to: int = 1,
        packed: bool = False,
    ) -> Prepared:
        """Tensors per chunk, ready for the device. chunk_size 0 (or >= the batch) is the
        plain full-batch step: one chunk per side. `pin` page-locks them (CUDA), so the copy to
        the device can run without blocking; `pad_to` rounds widths up (compiled models see
        fewer shapes); `packed` fills rows of max_length tokens instead, and a chunk is then
        `chunk_size` rows holding as many sequences as fit (packing.py)."""
        size = chunk_size if 0 < chunk_size < len(self.queries) else 0
        width = tokenizer.max_length
        sides = []
        for side in self.sides():
            if packed and size:  # chunks of `size` rows, each holding what fits
                parts = packed_chunks(side, width, size, tokenizer.pad_id)
            elif packed:
                parts = [(list(range(len(side))), pack(side, width, tokenizer.pad_id))]
            else:
                order = sorted(range(len(side)), key=lambda i: -len(side[i]))
                step = size or len(side)
                groups = [order[start : start + step] for start in range(0, len(side), step)]
                parts = [(g, tokenizer.collate([side[i] for i in g], pad_to)) for g in groups]
            chunks = [Chunk(torch.tensor(index), batch) for index, batch in parts]
            sides.append(
                [Chunk(c.index.pin_memory(), c.batch.pin()) for c in chunks] if pin else chunks
            )
        return Prepared(sides, cached=size > 0, lengths=[len(s) for x in self.sides() for s in x])


@dataclass
class Chunk:
    index: torch.Tensor  # the side's rows this chunk holds, longest first
    batch: Batch


@dataclass
class Prepared:
    sides: list[list[Chunk]]  # queries, documents[, negatives]
    cached: bool  # several chunks per side: the gradient cache runs
    lengths: list[int]  # every sequence's token count, padding excluded

    @property
    def backwards(self) -> int:
        """Backward passes through the encoder in one step: one, or one per cached chunk."""
        return sum(len(side) for side in self.sides) if self.cached else 1


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
    encoder: Encoder, scale: LogitScale, batch: Prepared, loss: Loss = contrastive_loss
) -> LossOutput:
    """Forward and backward for one batch; gradients accumulate into the parameters. `loss`
    maps the embedded sides to a LossOutput (contrastive_loss, or matryoshka_loss)."""
    if not batch.cached:
        sides = [_assemble([(c, encoder(c.batch)) for c in side]) for side in batch.sides]
        output = loss(*sides[:2], scale(), *sides[2:])
        output.loss.backward()
        return output
    leaves, replays, kept = [], [], None
    random = draws_random(encoder)
    for number, side in enumerate(batch.sides):
        embedded, side_replays = [], []
        for position, chunk in enumerate(side):
            last = number == len(batch.sides) - 1 and position == len(side) - 1
            snapshot = RngSnapshot() if random else None
            with torch.set_grad_enabled(last):
                rows = encoder(chunk.batch)
            if last:
                kept = (chunk, rows)
            else:
                side_replays.append((chunk, snapshot))
            embedded.append((chunk, rows.detach()))
        leaves.append(_assemble(embedded).requires_grad_())
        replays.append(side_replays)
    output = loss(*leaves[:2], scale(), *leaves[2:])
    output.loss.backward()
    chunk, rows = kept
    rows.backward(gradient=_rows_of(leaves[-1].grad, chunk))
    for leaf, side_replays in zip(leaves, replays, strict=True):
        for chunk, snapshot in side_replays:
            with snapshot.replay() if snapshot else nullcontext():
                rows = encoder(chunk.batch)
            rows.backward(gradient=_rows_of(leaf.grad, chunk))
    return output


def draws_random(encoder: Encoder) -> bool:
    """Whether a forward pass draws random numbers: dropout, as a module or as the attention
    dropout rate that Llama-style models apply inside attention, in training mode."""
    if not encoder.training:
        return False
    rate = getattr(encoder.backbone.config, "attention_dropout", 0.0) or 0.0
    modules = encoder.backbone.modules()
    return rate > 0 or any(isinstance(m, nn.Dropout) and m.p > 0 for m in modules)


def _assemble(parts: list[tuple[Chunk, torch.Tensor]]) -> torch.Tensor:
    """Chunks' embeddings put back in the side's row order (differentiable)."""
    values = torch.cat([rows for _, rows in parts])
    index = torch.cat([chunk.index for chunk, _ in parts]).to(values.device, non_blocking=True)
    return values.new_empty(values.shape).index_copy(0, index, values)


def _rows_of(gradient: torch.Tensor, chunk: Chunk) -> torch.Tensor:
    return gradient[chunk.index.to(gradient.device, non_blocking=True)]
