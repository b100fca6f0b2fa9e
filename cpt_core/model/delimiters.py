"""Tokenize a text wrapped in its side's delimiters, keeping the closing delimiter intact.

The embedding is the hidden state at the closing delimiter, so that token must exist and be
exactly the delimiter. Tokenizing the joined string would let BPE merge it with the text
('.]' is one token in SmolLM2), and naive truncation would cut it off. So the content and the
delimiters are tokenized separately, the content alone is truncated, and the ids are joined.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from cpt_core.config import Strict
from cpt_core.errors import CptError
from cpt_core.model.char_cut import cut_texts

if TYPE_CHECKING:  # the configuration (Delimiters) is read without torch: `cpt train` checks
    import torch  # its arguments in a moment, before the 15-30 s of importing torch
    from transformers import PreTrainedTokenizerBase

Side = Literal["query", "document"]


class Delimiters(Strict):
    """Opening and closing text around each side; the closing one is the pooled token."""

    query: tuple[str, str] = ("[", "]")
    document: tuple[str, str] = ("{", "}")


@dataclass
class Batch:
    """Token rows and where each sequence is pooled. Padded (`collate`): a sequence per row,
    pooled at `pool_index` of its row. Packed (packing.py): several per row, positions restarting
    for each, pooled at (`pool_row`, `pool_index`), and no attention mask for the model."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor  # 1 for a sequence's tokens, 0 for padding
    position_ids: torch.Tensor
    pool_index: torch.Tensor  # column of each sequence's closing delimiter (its last token)
    pool_row: torch.Tensor  # row of each sequence
    packed: bool = False

    @property
    def tokens(self) -> int:
        return int(self.attention_mask.sum())

    def pin(self) -> Batch:
        """Page-locked copies: a copy to a GPU from them need not block the host."""
        tensors = (self.input_ids, self.attention_mask, self.position_ids)
        rows = (self.pool_index, self.pool_row)
        return Batch(*(t.pin_memory() for t in (*tensors, *rows)), packed=self.packed)


class DelimitedTokenizer:
    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        delimiters: Delimiters,
        max_length: int,
        padding_side: Literal["left", "right"] = "right",
    ):
        self.tokenizer = tokenizer
        self.delimiters = delimiters
        self.max_length = max_length
        self.padding_side = padding_side
        self.prefix = special_tokens_around(tokenizer)[0]
        self.wrap = {
            side: tuple(self._ids(text) for text in getattr(delimiters, side))
            for side in ("query", "document")
        }
        for side, (opening, closing) in self.wrap.items():
            if not closing:
                raise CptError(f"the {side} side's closing delimiter tokenizes to nothing")
            if len(self.prefix) + len(opening) + len(closing) >= max_length:
                raise CptError(f"max_length {max_length} leaves no room for content")
        pad = tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else (tokenizer.eos_token_id or 0)

    def _ids(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False) if text else []

    def encode(self, texts: list[str], side: Side) -> list[list[int]]:
        """Token ids per text: [specials] + open + content (truncated) + close. Texts are cut
        by characters first (char_cut.py), so a huge one costs what its first tokens do."""
        cut = cut_texts(texts, self.tokenizer, self.max_length)
        content = self.tokenizer(cut, add_special_tokens=False)["input_ids"]
        return [self.wrap_ids(ids, side) for ids in content]

    def wrap_ids(self, content: list[int], side: Side) -> list[int]:
        """Content ids (from text, or as a client sent them) wrapped in the side's delimiters,
        the content cut so the whole fits in max_length and the closing delimiter survives."""
        opening, closing = self.wrap[side]
        budget = self.max_length - len(self.prefix) - len(opening) - len(closing)
        return self.prefix + opening + content[:budget] + closing

    def at_length(self, max_length: int) -> DelimitedTokenizer:
        """The same tokenizer and delimiters with another length cap."""
        return DelimitedTokenizer(self.tokenizer, self.delimiters, max_length, self.padding_side)

    def collate(self, sequences: list[list[int]], pad_to: int = 1) -> Batch:
        """Pad to the longest sequence (rounded up to a multiple of `pad_to`); positions count
        real tokens only, so left and right padding give the same hidden states."""
        import torch

        width = padded_width(sequences, pad_to)
        ids = torch.full((len(sequences), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(sequences), width), dtype=torch.long)
        for row, seq in enumerate(sequences):
            span = (
                slice(width - len(seq), width)
                if self.padding_side == "left"
                else slice(0, len(seq))
            )
            ids[row, span] = torch.tensor(seq)
            mask[row, span] = 1
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
        lengths = mask.sum(dim=1)
        pool = torch.full_like(lengths, width - 1) if self.padding_side == "left" else lengths - 1
        return Batch(ids, mask, positions, pool, torch.arange(len(sequences)))


def padded_width(sequences: list[list[int]], pad_to: int = 1) -> int:
    """The longest length rounded up to a multiple of `pad_to`. A long-running server pads to a
    few widths only: the CPU kernels cache a plan per shape (oneDNN's primitive cache), and
    every new width is a new plan and more resident memory."""
    longest = max(len(s) for s in sequences)
    return -(-longest // pad_to) * pad_to


def special_tokens_around(tokenizer: PreTrainedTokenizerBase) -> tuple[list[int], list[int]]:
    """The special tokens a model expects around a text: (before, after). BOS for Gemma,
    nothing for SmolLM2, [CLS] and [SEP] for BERT-style sentence encoders."""
    plain = tokenizer.encode("a", add_special_tokens=False)
    full = tokenizer.encode("a", add_special_tokens=True)
    for start in range(len(full) - len(plain) + 1):
        if full[start : start + len(plain)] == plain:
            return full[:start], full[start + len(plain) :]
    return [], []
