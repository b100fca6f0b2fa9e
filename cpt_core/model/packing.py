"""Sequences packed into rows of one width, with no padding between them.

A padded batch spends FLOPs and memory on pad tokens, and each batch has its own width, so on
a GPU cuDNN plans attention again for every chunk and a compiled model recompiles. Packed,
sequences fill rows of a fixed width (first-fit, longest first: a few pad tokens at the end of
each row), and a gradient-cache chunk is a fixed number of such rows, holding as many
sequences as fit: every chunk of every step has one shape. Positions restart at 0 for every
sequence, and attention stays within each sequence: a training forward builds that mask from
the restarting position ids on the device (model/attention_mask.py); elsewhere transformers
reads the same boundaries from them (its packed-sequence mask, or flash attention's
variable-length kernels) when no attention mask is passed. Every sequence is pooled at its own
closing delimiter, found by (row, column).
"""

from __future__ import annotations

import torch

from cpt_core.model.delimiters import Batch


def pack(sequences: list[list[int]], width: int, pad_id: int) -> Batch:
    """`sequences` in as many rows of `width` tokens as they need; pooled in the order given."""
    (layout,) = fill_rows([len(s) for s in sequences], width)
    return _tensors(sequences, layout, width, pad_id, len(layout))


def packed_chunks(
    sequences: list[list[int]], width: int, rows: int, pad_id: int
) -> list[tuple[list[int], Batch]]:
    """Gradient-cache chunks of one shape, `rows` x `width`: each holds as many sequences as
    fit (the last one's spare rows stay empty). Per chunk: the indices of `sequences` it holds,
    in the order its embeddings come out, and its tensors."""
    chunks = []
    for layout in fill_rows([len(s) for s in sequences], width, rows):
        members = [index for row in layout for index in row]
        local = {index: number for number, index in enumerate(members)}
        placed = [[local[index] for index in row] for row in layout]
        batch = _tensors([sequences[i] for i in members], placed, width, pad_id, rows)
        chunks.append((members, batch))
    return chunks


def fill_rows(lengths: list[int], width: int, rows: int | None = None) -> list[list[list[int]]]:
    """Indices of `lengths`, longest first, each in the first row of `width` with room. With
    `rows`, a group closes once its rows are full and nothing fits, and the next one starts;
    without, one group of as many rows as needed."""
    if longest := max((n for n in lengths if n > width), default=0):
        raise ValueError(f"a sequence of {longest} tokens does not fit a row of {width}")
    groups: list[list[list[int]]] = []
    group: list[list[int]] = []
    free: list[int] = []
    for index in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        row = next((r for r, room in enumerate(free) if room >= lengths[index]), None)
        if row is None:
            if rows is not None and len(group) == rows:
                groups.append(group)
                group, free = [], []
            group.append([])
            free.append(width)
            row = len(group) - 1
        group[row].append(index)
        free[row] -= lengths[index]
    return [*groups, group] if group else groups


def _tensors(
    sequences: list[list[int]], layout: list[list[int]], width: int, pad_id: int, rows: int
) -> Batch:
    """The rows `layout` describes (indices of `sequences`), then empty rows up to `rows`."""
    ids = torch.full((rows, width), pad_id, dtype=torch.long)
    mask = torch.zeros((rows, width), dtype=torch.long)
    positions = torch.zeros((rows, width), dtype=torch.long)
    pool_row = torch.empty(len(sequences), dtype=torch.long)
    pool_index = torch.empty(len(sequences), dtype=torch.long)
    for row, members in enumerate(layout):
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
