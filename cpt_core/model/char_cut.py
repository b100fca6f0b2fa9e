"""Cut a text by characters before tokenizing it, so its cost is bounded by the token cap.

Texts are cut to `max_length` tokens after tokenizing, and tokenizing costs what the whole text
holds: ~0.7 MiB/s of BPE, so one 15 MiB input held a server's tokenizer for 20 s, for the sake of
a few hundred tokens. No token covers more characters than `longest_token_chars` (its longest
vocabulary entry; for WordPiece also the longest word it reads before giving up with [UNK]), so
the first N tokens of a text lie within its first N x that many characters, and a cut there,
with a margin for the one word it splits, keeps them (byte-level BPE and SentencePiece cover
every character; a tokenizer that skips whitespace, as WordPiece does, could see fewer tokens
only in a text padded with hundreds of spaces). The token cut that follows still decides what
is embedded, delimiters kept.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

MARGIN_TOKENS = 16  # room for the word a cut splits, which may tokenize differently


@lru_cache(maxsize=16)
def longest_token_chars(tokenizer: PreTrainedTokenizerBase) -> int:
    """The most characters one token of `tokenizer` can stand for."""
    tokens = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    longest = max((len(t) for t in tokens if t is not None), default=1)
    backend = getattr(tokenizer, "backend_tokenizer", None)
    word_limit = getattr(getattr(backend, "model", None), "max_input_chars_per_word", 0)
    return max(longest, word_limit or 0, 1)


def cut_texts(texts: list[str], tokenizer: PreTrainedTokenizerBase, max_tokens: int) -> list[str]:
    """`texts`, each cut to the characters its first `max_tokens` tokens can come from."""
    limit = (max_tokens + MARGIN_TOKENS) * longest_token_chars(tokenizer)
    return [text[:limit] for text in texts]
