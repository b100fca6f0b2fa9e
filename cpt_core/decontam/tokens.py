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

WORD = re.compile(r"\w+")
TOKEN = re.compile(r"\w+|[^\w\s]")
# Windows hash as polynomials in BASE over the words' hashes, mod 2^64 (numpy's uint64
# arithmetic wraps): from one running sum per text, every window of every length costs two
# vector operations, so checking the few lengths of short eval texts stays cheap.
BASE = 0x9E3779B97F4A7C15  # odd, so invertible mod 2^64
BASE_INVERSE = pow(BASE, -1, 2**64)

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
    if not text.isascii():  # NFKC changes nothing in ASCII, and most code is ASCII
        text = unicodedata.normalize("NFKC", text)
    return WORD.findall(text.lower())


def ngram_hashes(tokens: list[str], n: int, shorter: tuple[int, ...] = ()) -> np.ndarray:
    """The hashes of every window of `n` words, and of every window of each length in
    `shorter` (eval texts shorter than `n` count whole, at their own length)."""
    sizes = [size for size in (n, *shorter) if size <= len(tokens)]
    if not sizes:
        return np.empty(0, dtype=np.uint64)
    hashed = np.fromiter((_word_hash(t) for t in tokens), dtype=np.uint64, count=len(tokens))
    up, down = _powers(len(tokens))
    running = np.zeros(len(tokens) + 1, dtype=np.uint64)
    np.cumsum(hashed * down, out=running[1:])
    # the window [i, i + size) is sum(word_j * BASE^(i + size - 1 - j)): where it starts
    # does not change its hash
    return np.concatenate([(running[size:] - running[:-size]) * up[size - 1 :] for size in sizes])


def whole_hash(tokens: list[str]) -> np.uint64:
    """The hash of all of `tokens` as one window (an eval text shorter than n)."""
    return ngram_hashes(tokens, len(tokens))[0]


def function_shape(code: str, language: str | None, min_tokens: int) -> int | None:
    """A 64-bit hash of the function's shape; None when it has fewer than `min_tokens` tokens,
    too few for equal shapes to mean a copy."""
    tokens = TOKEN.findall(_without_comments(code, language).replace('"', "'"))
    if len(tokens) < min_tokens:
        return None
    names = dict.fromkeys(t for t in tokens if _is_name(t) and t.lower() not in KEYWORDS)
    numbered = {name: f"v{i}" for i, name in enumerate(names)}
    shape = " ".join([numbered.get(t, t) for t in tokens])
    return int.from_bytes(hashlib.blake2b(shape.encode(), digest_size=8).digest(), "little")


def _is_name(token: str) -> bool:
    return token[0].isalpha() or token[0] == "_"


def _without_comments(code: str, language: str | None) -> str:
    line = _LINE.get(language or "", "//")
    return re.sub(f"{_DOCSTRINGS}|{_BLOCK}|(?:{line})[^\\n]*", " ", code)


def _powers(length: int) -> tuple[np.ndarray, np.ndarray]:
    """BASE^i and BASE^-i for i < length, mod 2^64."""
    up = np.full(length, BASE, dtype=np.uint64)
    up[0] = 1
    down = np.full(length, BASE_INVERSE, dtype=np.uint64)
    down[0] = 1
    return np.cumprod(up, dtype=np.uint64), np.cumprod(down, dtype=np.uint64)


@lru_cache(maxsize=1 << 20)
def _word_hash(word: str) -> int:
    return int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
