"""Cut a document into passages under a token budget, at line (block) and sentence boundaries.

Lines are packed greedily into passages of at most `max_tokens`; a line over the budget is
split into sentences first, and a sentence over it into runs of words. Token counts come from
the model's own tokenizer (counted in one batch per document), so "128 tokens" means what the
encoder will see; the counts of joined pieces are taken as the sum of their parts, which can
differ by a token or two at the seams.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from cpt_core.config import Strict

SENTENCE_END = re.compile(r"(?<=[.!?;。！？；])\s+|(?<=[。！？])")
TokenCounter = Callable[[list[str]], list[int]]


class ChunkConfig(Strict):
    max_tokens: int = 128
    min_tokens: int = 16  # shorter passages make no pair
    stride: int = 1  # pairs start at passages 0, stride, 2*stride, ...
    max_pairs_per_document: int = 16


def chunk(lines: list[str], count: TokenCounter, max_tokens: int) -> list[tuple[str, int]]:
    """(passage, tokens) in document order; each passage joins whole pieces with newlines."""
    passages: list[tuple[str, int]] = []
    current: list[str] = []
    size = 0
    for piece, tokens in _pieces(lines, count, max_tokens):
        if current and size + tokens > max_tokens:
            passages.append(("\n".join(current), size))
            current, size = [], 0
        current.append(piece)
        size += tokens
    if current:
        passages.append(("\n".join(current), size))
    return passages


def _pieces(lines: list[str], count: TokenCounter, max_tokens: int) -> list[tuple[str, int]]:
    """Lines under the budget as they are; longer ones as sentences, then as runs of words."""
    pieces: list[tuple[str, int]] = []
    for line, tokens in zip(lines, count(lines), strict=True):
        if tokens <= max_tokens:
            pieces.append((line, tokens))
            continue
        sentences = [s for s in SENTENCE_END.split(line) if s.strip()]
        for sentence, n in zip(sentences, count(sentences), strict=True):
            pieces += (
                [(sentence, n)] if n <= max_tokens else _word_runs(sentence, n, count, max_tokens)
            )
    return pieces


def _word_runs(sentence: str, tokens: int, count: TokenCounter, max_tokens: int):
    words = sentence.split()
    per_run = max(1, len(words) * max_tokens // (tokens + 1))
    runs = [" ".join(words[i : i + per_run]) for i in range(0, len(words), per_run)]
    return list(zip(runs, count(runs), strict=True))


def consecutive_pairs(
    passages: list[tuple[str, int]], config: ChunkConfig
) -> tuple[list[tuple[int, int]], int, int]:
    """Index pairs (i, i+1) to keep, the number dropped as too short, and over the cap."""
    starts = range(0, len(passages) - 1, config.stride)
    long_enough = [
        (i, i + 1) for i in starts if min(passages[i][1], passages[i + 1][1]) >= config.min_tokens
    ]
    short = len(starts) - len(long_enough)
    kept = long_enough[: config.max_pairs_per_document]
    return kept, short, len(long_enough) - len(kept)
