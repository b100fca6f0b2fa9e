"""What two texts must share to overlap: word n-grams, and a function's shape.

Words are NFKC-normalised, lower-cased runs of letters, digits and underscores, so spacing,
punctuation and line breaks never hide an overlap (GPT-3's and bigcode's 13-gram check works on
words the same way). A function's shape is its token stream without comments and docstrings,
with every identifier numbered by first appearance, so a copy that was only reformatted or had
its names changed has the same shape as the original.

Hashes are stable across processes and machines (BLAKE2b of each word, a polynomial over each
window), because an index built by the launcher is read by workers elsewhere.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from functools import lru_cache

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

WORD = re.compile(r"\w+")
TOKEN = re.compile(r"\w+|[^\w\s]")
IDENTIFIER = re.compile(r"[^\W\d]\w*")
# a window's hash is sum(word_hash[i] * MIX[i]) mod 2^64: odd multipliers, one per position
MIX = np.random.default_rng(0x6370742D).integers(1, 2**63, size=64, dtype=np.uint64) * 2 + 1

# Comments and docstrings by language: the mined side has its docstring cut, the eval side
# (CoSQA, CodeSearchNet) keeps it, and neither changes what a function does.
_LINE = {"python": "#", "ruby": "#", "php": r"#|//"}
_DOCSTRINGS = r'"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\''
_BLOCK = r"/\*[\s\S]*?\*/"
# Python, Go, Java, JavaScript, PHP and Ruby keywords (and a few built-in literals): kept as
# they are in a shape, since renaming a variable never changes them
_KEYWORDS = """and as assert async await break case catch chan class const continue def default
    defer del do elif else elsif end ensure enum except extends false final finally fn for foreach
    from func function global go goto if implements import in instanceof interface is lambda
    let map module new next nil none nonlocal not null or package pass private protected public
    raise range redo rescue retry return select self static struct super switch this throw
    throws true try type typeof unless until use var void when while with yield"""
KEYWORDS = frozenset(_KEYWORDS.split())


def words(text: str) -> list[str]:
    return WORD.findall(unicodedata.normalize("NFKC", text).lower())


def ngram_hashes(tokens: list[str], n: int, shorter: tuple[int, ...] = ()) -> np.ndarray:
    """The hashes of every window of `n` words, and of every window of each length in
    `shorter` (eval texts shorter than `n` count whole, at their own length)."""
    if not tokens:
        return np.empty(0, dtype=np.uint64)
    hashed = np.array([_word_hash(t) for t in tokens], dtype=np.uint64)
    windows = [_windows(hashed, size) for size in (n, *shorter) if size <= len(hashed)]
    return np.concatenate(windows) if windows else np.empty(0, dtype=np.uint64)


def whole_hash(tokens: list[str]) -> np.uint64:
    """The hash of all of `tokens` as one window (an eval text shorter than n)."""
    return _windows(np.array([_word_hash(t) for t in tokens], dtype=np.uint64), len(tokens))[0]


def function_shape(code: str, language: str | None, min_tokens: int) -> int | None:
    """A 64-bit hash of the function's shape; None when it has fewer than `min_tokens` tokens,
    too few for equal shapes to mean a copy."""
    tokens = TOKEN.findall(_without_comments(code, language).replace('"', "'"))
    if len(tokens) < min_tokens:
        return None
    names: dict[str, str] = {}
    shape = []
    for token in tokens:
        if IDENTIFIER.fullmatch(token) and token.lower() not in KEYWORDS:
            token = names.setdefault(token, f"v{len(names)}")
        shape.append(token)
    digest = hashlib.blake2b(" ".join(shape).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def _without_comments(code: str, language: str | None) -> str:
    line = _LINE.get(language or "", "//")
    return re.sub(f"{_DOCSTRINGS}|{_BLOCK}|(?:{line})[^\\n]*", " ", code)


def _windows(hashed: np.ndarray, size: int) -> np.ndarray:
    if size > len(MIX):
        raise ValueError(f"n-grams of at most {len(MIX)} words")
    with np.errstate(over="ignore"):
        return sliding_window_view(hashed, size) @ MIX[:size]


@lru_cache(maxsize=1 << 20)
def _word_hash(word: str) -> int:
    return int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
