"""An index of the evaluation sets' n-grams and function shapes, asked of each training pair.

Built once per mining run from the sets (eval_sets.py), it holds every word n-gram of every
eval text (texts shorter than n but at least `min_words` long count whole), and the shape of
every eval function, each with a bitmask of the sets it comes from. A pair overlaps a set when
one of its texts holds one of the set's n-grams or its code has one of its functions' shapes.
Looking up is a binary search per n-gram, so the cost per pair grows with its length, not with
the size of the eval sets.

The index travels to Beam workers as a file of plain arrays (`save`, `load`: numpy's format
without pickle), so a worker never runs code from it.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from cpt_core.decontam.config import DecontaminationConfig
from cpt_core.decontam.eval_sets import EvalTexts
from cpt_core.decontam.tokens import function_shape, ngram_hashes, whole_hash, words
from cpt_core.errors import CptError

MAX_SETS = 64  # one bit each
FILTER_BITS = 26  # an 8 MB filter in front of the binary search


@dataclass(frozen=True)
class OverlapIndex:
    names: tuple[str, ...]  # bit i of a mask is names[i]
    ngram: int
    shorter: tuple[int, ...]  # lengths of eval texts shorter than `ngram` that count whole
    min_function_tokens: int
    grams: np.ndarray  # sorted unique n-gram hashes (uint64)
    gram_sets: np.ndarray  # their set masks (uint64)
    shapes: np.ndarray  # sorted unique function shapes (uint64)
    shape_sets: np.ndarray
    sizes: dict[str, dict[str, int]]  # per set: texts, functions, n-grams, shapes

    @classmethod
    def build(cls, sets: list[EvalTexts], config: DecontaminationConfig) -> OverlapIndex:
        if len(sets) > MAX_SETS:
            raise CptError(f"decontamination checks at most {MAX_SETS} eval sets, not {len(sets)}")
        n, grams, shapes, sizes, shorter = config.ngram, [], [], {}, set()
        for bit, found in enumerate(sets):
            hashes, whole = [], []
            texts = [*found.texts, *(code for code, _ in found.functions)]
            for text in texts:
                tokens = words(text)
                if len(tokens) >= n:
                    hashes.append(ngram_hashes(tokens, n))
                elif len(tokens) >= config.min_words:
                    whole.append(whole_hash(tokens))
                    shorter.add(len(tokens))
            set_grams = np.unique(np.concatenate([*hashes, np.array(whole, dtype=np.uint64)]))
            set_shapes = np.unique(
                np.array(
                    [
                        shape
                        for code, language in found.functions
                        if (shape := function_shape(code, language, config.min_function_tokens))
                    ],
                    dtype=np.uint64,
                )
            )
            grams.append((set_grams, bit))
            shapes.append((set_shapes, bit))
            sizes[found.name] = {
                "texts": len(found.texts),
                "functions": len(found.functions),
                "ngrams": len(set_grams),
                "shapes": len(set_shapes),
            }
        return cls(
            tuple(s.name for s in sets),
            n,
            tuple(sorted(shorter)),
            config.min_function_tokens,
            *_merged(grams),
            *_merged(shapes),
            sizes,
        )

    @cached_property
    def _filter(self) -> np.ndarray:
        """One bit per slot of the top FILTER_BITS bits of each n-gram hash: most of a
        training text's n-grams are in no eval set, and this says so without a binary search
        through the whole index (a few % of them pass by chance)."""
        slots = self.grams >> np.uint64(64 - FILTER_BITS)
        bits = np.zeros(1 << (FILTER_BITS - 3), dtype=np.uint8)
        np.bitwise_or.at(
            bits, slots >> np.uint64(3), np.left_shift(1, slots & np.uint64(7)).astype(np.uint8)
        )
        return bits

    def overlaps(
        self, texts: Sequence[str], code: str | None = None, language: str | None = None
    ) -> list[str]:
        """The sets any of `texts` or `code` overlaps, in the index's order."""
        mask = np.uint64(0)
        for text in (*texts, *([code] if code else [])):
            hashes = ngram_hashes(words(text), self.ngram, self.shorter)
            slots = hashes >> np.uint64(64 - FILTER_BITS)
            maybe = (self._filter[slots >> np.uint64(3)] >> (slots & np.uint64(7))) & 1
            mask |= _found(self.grams, self.gram_sets, hashes[maybe.astype(bool)])
        if code and (shape := function_shape(code, language, self.min_function_tokens)):
            mask |= _found(self.shapes, self.shape_sets, np.array([shape], dtype=np.uint64))
        return [name for bit, name in enumerate(self.names) if int(mask) >> bit & 1]

    def save(self) -> bytes:
        meta = {
            "names": self.names,
            "ngram": self.ngram,
            "shorter": self.shorter,
            "min_function_tokens": self.min_function_tokens,
            "sizes": self.sizes,
        }
        buffer = io.BytesIO()
        np.savez(
            buffer,
            meta=np.array(json.dumps(meta)),
            grams=self.grams,
            gram_sets=self.gram_sets,
            shapes=self.shapes,
            shape_sets=self.shape_sets,
        )
        return buffer.getvalue()

    @classmethod
    def load(cls, data: bytes) -> OverlapIndex:
        arrays = np.load(io.BytesIO(data), allow_pickle=False)
        meta = json.loads(str(arrays["meta"]))
        return cls(
            tuple(meta["names"]),
            meta["ngram"],
            tuple(meta["shorter"]),
            meta["min_function_tokens"],
            arrays["grams"],
            arrays["gram_sets"],
            arrays["shapes"],
            arrays["shape_sets"],
            meta["sizes"],
        )


def _merged(parts: list[tuple[np.ndarray, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Every set's hashes in one sorted array, each with the OR of the sets' bits that hold it."""
    hashes = np.concatenate([h for h, _ in parts]) if parts else np.empty(0, dtype=np.uint64)
    bits = [np.full(len(h), np.uint64(1) << np.uint64(bit)) for h, bit in parts]
    masks = np.concatenate(bits) if bits else np.empty(0, dtype=np.uint64)
    unique, inverse = np.unique(hashes, return_inverse=True)
    merged = np.zeros(len(unique), dtype=np.uint64)
    np.bitwise_or.at(merged, inverse, masks)
    return unique, merged


def _found(sorted_hashes: np.ndarray, masks: np.ndarray, hashes: np.ndarray) -> np.uint64:
    """The OR of the masks of those `hashes` that are in `sorted_hashes`."""
    if not len(hashes) or not len(sorted_hashes):
        return np.uint64(0)
    at = np.minimum(np.searchsorted(sorted_hashes, hashes), len(sorted_hashes) - 1)
    hit = at[sorted_hashes[at] == hashes]
    return np.bitwise_or.reduce(masks[hit]) if len(hit) else np.uint64(0)
