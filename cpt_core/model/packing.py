"""Sequences packed into rows of one width, with no padding between them.

A padded batch spends FLOPs and memory on pad tokens, and each batch has its own width, so on
a GPU cuDNN plans attention again for every chunk and a compiled model recompiles. Packed, a
chunk's sequences fill rows of a fixed width (first-fit, longest first: a few pad tokens at the
end of each row), positions restart at 0 for every sequence, and attention stays within each
sequence: transformers reads the boundaries from the restarting position ids (its packed-sequence
mask, or flash attention's variable-length kernels) when no attention mask is passed. Every
sequence is pooled at its own closing delimiter, found by (row, column).
"""

from __future__ import annotations

import torch

from cpt_core.model.delimiters import Batch


def pack(sequences: list[list[int]], width: int, pad_id: int) -> Batch:
    """`sequences` in rows of `width` tokens; pooled rows come out in the order given."""
    if longest := max((len(s) for s in sequences if len(s) > width), default=0):
        raise ValueError(f"a sequence of {longest} tokens does not fit a row of {width}")
    rows: list[list[int]] = []
    free: list[int] = []
    for index in sorted(range(len(sequences)), key=lambda i: -len(sequences[i])):
        size = len(sequences[index])
        row = next((r for r, room in enumerate(free) if room >= size), len(rows))
        if row == len(rows):
            rows.append([])
            free.append(width)
        rows[row].append(index)
        free[row] -= size
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    positions = torch.zeros((len(rows), width), dtype=torch.long)
    pool_row = torch.empty(len(sequences), dtype=torch.long)
    pool_index = torch.empty(len(sequences), dtype=torch.long)
    for row, members in enumerate(rows):
        start = 0
        for index in members:
            size = len(sequences[index])
            span = slice(start, start + size)
            ids[row, span] = torch.tensor(sequences[index])
            mask[row, span] = 1
            positions[row, span] = torch.arange(size)
            pool_row[index], pool_index[index] = row, start + size - 1
            start += size
    return Batch(ids, mask, positions, pool_index, pool_row, packed=True)
