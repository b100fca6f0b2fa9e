"""The cpt loss: symmetric cross-entropy over the M x M matrix of scaled cosines.

logits[i, j] = cos(x_i, y_j) * exp(tau). Row i asks "which document belongs to query i" and
column j "which query belongs to document j"; the diagonal holds the positives, every other
pair in the (global) batch is a negative. Explicit hard negatives, when given, are extra
columns for the row loss only: they are documents, not queries.

Under torch.distributed each rank passes its local rows; the loss returned is this rank's share,
normalised by the global batch, so the shares sum to the union-batch loss.

The logit matrix is O(M^2): 4096 pairs make 64 MB per copy, and softmax plus gradients keep
several. So rows are processed in blocks under activation checkpointing: only one block's
logits exist at a time, and backward recomputes them (M^2 d flops, negligible next to the
transformer). Memory for the loss is then O(block x M).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.checkpoint import checkpoint

from cpt_core.dist.group import gather, reduce_sum


class LogitScale(nn.Module):
    """exp(tau), trainable, clamped as CLIP clamps its logit scale (100 by default)."""

    def __init__(self, init: float = 1 / 0.07, maximum: float = 100.0, learnable: bool = True):
        super().__init__()
        self.tau = nn.Parameter(torch.tensor(math.log(init)), requires_grad=learnable)
        self.max_tau = math.log(maximum)

    def forward(self) -> torch.Tensor:
        return self.tau.clamp(max=self.max_tau).exp()


@dataclass
class LossOutput:
    loss: torch.Tensor  # this rank's share; sums over ranks to the global loss
    accuracy: torch.Tensor  # share of this rank's rows whose positive scored highest
    global_loss: torch.Tensor  # detached, identical on every rank


BLOCK_ROWS = 256


def contrastive_loss(
    queries: torch.Tensor,
    documents: torch.Tensor,
    scale: torch.Tensor,
    negatives: torch.Tensor | None = None,
    block_rows: int = BLOCK_ROWS,
) -> LossOutput:
    """queries, documents: [m, d] normalised local rows; negatives: [m * k, d] or None.

    Autocast is off here: the encoder hands over float32 (or float64) rows, and at a scale of
    100 bf16 logits would err by ~0.4, more than the margins the loss is made of.
    """
    with torch.autocast(queries.device.type, enabled=False):
        return _loss(queries, documents, scale, negatives, block_rows)


def _loss(
    queries: torch.Tensor,
    documents: torch.Tensor,
    scale: torch.Tensor,
    negatives: torch.Tensor | None,
    block_rows: int,
) -> LossOutput:
    all_queries, offset = gather(queries)
    all_documents, _ = gather(documents)
    columns = all_documents
    if negatives is not None:
        columns = torch.cat([all_documents, gather(negatives)[0]], dim=0)
    batch = all_queries.shape[0]
    labels = torch.arange(offset, offset + queries.shape[0], device=queries.device)
    row_loss, row_hits = _cross_entropy(queries, columns, labels, scale, block_rows)
    col_loss, _ = _cross_entropy(documents, all_queries, labels, scale, block_rows)
    loss = (row_loss + col_loss) / (2 * batch)
    accuracy = row_hits / queries.shape[0]
    return LossOutput(loss, accuracy, reduce_sum(loss.detach()))


def _cross_entropy(
    rows: torch.Tensor, columns: torch.Tensor, labels: torch.Tensor, scale: torch.Tensor, block: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed cross-entropy of scale * rows @ columns.T against labels, and the count of rows
    whose label scored highest; blockwise with recomputation when there are many rows."""
    if rows.shape[0] <= block:
        return _block(rows, columns, labels, scale)
    total, hits = rows.new_zeros(()), rows.new_zeros(())
    for start in range(0, rows.shape[0], block):
        part = slice(start, start + block)
        loss, correct = checkpoint(
            _block, rows[part], columns, labels[part], scale, use_reentrant=False
        )
        total, hits = total + loss, hits + correct
    return total, hits


def _block(
    rows: torch.Tensor, columns: torch.Tensor, labels: torch.Tensor, scale: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    logits = scale * rows @ columns.T
    hits = (logits.argmax(dim=1) == labels).sum().to(rows.dtype)
    return F.cross_entropy(logits, labels, reduction="sum"), hits
