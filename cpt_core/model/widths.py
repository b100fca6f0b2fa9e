"""Embedding widths: the prefixes a Matryoshka-trained model embeds with (loss/matryoshka.py).

A model trained over nested widths serves each of them: the first `dim` coordinates of its
vector, renormalised. A width it was not trained at would be a prefix it never learned to
use, so it is refused, naming the widths it has (vLLM and OpenAI's `dimensions` do the same).
"""

from __future__ import annotations

import numpy as np

from cpt_core.errors import CptError


def trained_widths(dim: int, matryoshka_dims: list[int] | tuple[int, ...]) -> tuple[int, ...]:
    """Every width a model `dim` wide serves: its Matryoshka widths and its full width."""
    return tuple(sorted({*matryoshka_dims, dim}))


def checked_width(name: str, widths: tuple[int, ...], asked: int | None) -> int | None:
    """`asked` when the model serves it (None: the full width); else one line naming the
    widths it serves."""
    if asked is None or asked in widths:
        return asked
    if len(widths) == 1:
        raise CptError(
            f"{name} produces {widths[0]}-dimensional embeddings and was not trained for "
            f"shorter ones (loss.matryoshka_dims); dimensions must be {widths[0]} or omitted"
        )
    served = ", ".join(map(str, widths))
    raise CptError(f"{name} was trained to embed at {served} dimensions, not {asked}")


def narrowed(vectors: np.ndarray, dim: int | None) -> np.ndarray:
    """The first `dim` coordinates of each row, renormalised (all of them for None)."""
    if dim is None or dim >= vectors.shape[-1]:
        return vectors
    prefix = vectors[..., :dim]
    norms = np.linalg.norm(prefix, axis=-1, keepdims=True)
    return (prefix / np.maximum(norms, 1e-12)).astype(vectors.dtype, copy=False)
