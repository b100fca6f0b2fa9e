"""The cpt loss: symmetric cross-entropy over the M x M matrix of scaled cosines.

logits[i, j] = cos(x_i, y_j) * exp(tau). Row i asks "which document belongs to query i" and
column j "which query belongs to document j"; the diagonal holds the positives, every other
pair in the (global) batch is a negative. Explicit hard negatives, when given, are extra
columns for the row loss only: they are documents, not queries.

Under torch.distributed each rank passes its local rows; the loss returned is this rank's share,
normalised by the global batch, so the shares sum to the union-batch loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

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


def contrastive_loss(
    queries: torch.Tensor,
    documents: torch.Tensor,
    scale: torch.Tensor,
    negatives: torch.Tensor | None = None,
) -> LossOutput:
    """queries, documents: [m, d] normalised local rows; negatives: [m * k, d] or None."""
    all_queries, offset = gather(queries)
    all_documents, _ = gather(documents)
    columns = all_documents
    if negatives is not None:
        columns = torch.cat([all_documents, gather(negatives)[0]], dim=0)
    batch = all_queries.shape[0]
    labels = torch.arange(offset, offset + queries.shape[0], device=queries.device)
    row_logits = scale * queries @ columns.T
    col_logits = scale * documents @ all_queries.T
    total = F.cross_entropy(row_logits, labels, reduction="sum") + F.cross_entropy(
        col_logits, labels, reduction="sum"
    )
    loss = total / (2 * batch)
    accuracy = (row_logits.argmax(dim=1) == labels).float().mean()
    return LossOutput(loss, accuracy.detach(), reduce_sum(loss.detach()))
