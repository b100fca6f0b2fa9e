"""Matryoshka: the contrastive loss summed over nested prefixes of the embedding.

Each prefix (the first 64, 128, ... coordinates, renormalised) is trained to be an embedding of
its own (Kusupati et al., 2022; sentence-transformers' MatryoshkaLoss), so one model serves
every trained width: a client asks for `dimensions`, an index is built at a smaller `--dim`,
and each costs a fraction of the memory at a small loss of quality. The widest width keeps
the reported accuracy; the loss is the weighted sum over widths.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import torch
from torch.nn import functional as F

from cpt_core.loss.contrastive import LossOutput, contrastive_loss

Loss = Callable[..., LossOutput]  # (queries, documents, scale, negatives=None) -> LossOutput


def matryoshka_loss(
    queries: torch.Tensor,
    documents: torch.Tensor,
    scale: torch.Tensor,
    negatives: torch.Tensor | None = None,
    *,
    dims: Sequence[int],
    weights: Sequence[float],
) -> LossOutput:
    """contrastive_loss at each width in `dims` (ascending), weighted."""
    outputs = [
        contrastive_loss(prefix(queries, d), prefix(documents, d), scale, prefix(negatives, d))
        for d in dims
    ]
    return LossOutput(
        loss=sum(w * out.loss for w, out in zip(weights, outputs, strict=True)),
        accuracy=outputs[-1].accuracy,
        global_loss=sum(w * out.global_loss for w, out in zip(weights, outputs, strict=True)),
    )


def prefix(rows: torch.Tensor | None, dim: int) -> torch.Tensor | None:
    """The first `dim` coordinates, renormalised: what a client asking for `dim` gets."""
    if rows is None or dim >= rows.shape[-1]:
        return rows
    return F.normalize(rows[..., :dim], dim=-1)


def loss_for(dims: Sequence[int], weights: Sequence[float]) -> Loss:
    """The loss a run trains with: plain, or Matryoshka over `dims`."""
    if not dims:
        return contrastive_loss
    return partial(matryoshka_loss, dims=tuple(dims), weights=tuple(weights))
