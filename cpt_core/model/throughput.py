"""Texts per second of an encoder on this machine, measured on the texts it is about to embed.

The same model embeds three to four times fewer texts a second on an AVX2-only CPU than on one
that computes bf16 natively, so work sized for one machine is sized from a measurement instead
(the evaluation's caps, the demo index's documents).
"""

from __future__ import annotations

import time

import numpy as np

from cpt_core.model.delimiters import Side
from cpt_core.model.encoders import TextEncoder

WARM = 16  # embedded first and not timed: the first batch pays for allocation
TIMED = 64
SAMPLE = WARM + TIMED  # texts a measurement embeds: worth it only for several times as many


def texts_per_second(encoder: TextEncoder, texts: list[str], side: Side, seed: int = 0) -> float:
    """The rate on a fixed-seed sample of SAMPLE of `texts` (mixed lengths, as they come)."""
    if len(texts) < SAMPLE:
        raise ValueError(f"a rate needs {SAMPLE} texts to measure, not {len(texts)}")
    chosen = np.random.default_rng(seed).choice(len(texts), SAMPLE, replace=False)
    sample = [texts[i] for i in chosen]
    encoder.encode(sample[:WARM], side)
    clock = time.perf_counter()
    encoder.encode(sample[WARM:], side)
    return TIMED / max(time.perf_counter() - clock, 1e-9)
