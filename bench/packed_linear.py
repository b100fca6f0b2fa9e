"""Packed bf16 linear weights on a CPU: the Embedder and the sentence-transformers baseline
with plain `nn.Linear` layers vs with PackedLinear (cpt_core/model/packed_linear.py).

Same model, texts, batches and dtype (bfloat16); the baseline is the same load with packing off,
measured in the same run. On a CPU where oneDNN has no bf16 path (AVX2 only) nothing is packed,
so the bench says so and stops. Each rate is the best of `--repeats`
passes after a warm-up, plain and packed passes alternating. `max |1 - cos|` is the largest
change a text's vector sees.

    python bench/packed_linear.py              # 256 SciFact abstracts, 128 tokens
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from cpt_core.data.beir import read_beir
from cpt_core.model.bf16 import cpu_bf16_level, onednn_bf16
from cpt_core.model.embedder import Embedder
from cpt_core.model.encoders import load_encoder
from cpt_core.paths import shared_data
from cpt_core.pretrained.fetch import fetch


def best_rates(plain, packed, docs: list[str], repeats: int) -> tuple[list[float], list]:
    """Best sequences/s of each, the two passes alternating so that both see the same
    machine (a busy moment slows one pass of each, not one side)."""
    encoders, best, vectors = (plain, packed), [0.0, 0.0], [None, None]
    for encode in encoders:
        encode(docs[:32])
    for _ in range(repeats):
        for side, encode in enumerate(encoders):
            start = time.perf_counter()
            vectors[side] = encode(docs)
            best[side] = max(best[side], len(docs) / (time.perf_counter() - start))
    return best, vectors


def decoder(name: str, max_length: int, pack: bool):
    embedder = Embedder.from_pretrained(
        fetch(name), max_length=max_length, pack=pack, dtype="bfloat16"
    )
    return lambda texts: embedder.encode(texts, "document")


def sentence_transformer(name: str, max_length: int, pack: bool):
    encoder = load_encoder(name, max_length, dtype="bfloat16")
    if not pack:  # load_encoder packs: load the plain one by hand, same dtype
        from sentence_transformers import SentenceTransformer

        plain = SentenceTransformer(str(fetch(name)), device="cpu", local_files_only=True)
        plain.to(next(encoder.model.parameters()).dtype)
        encoder.model = plain
    return lambda texts: encoder.encode(texts, "document")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=256)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    corpus = list(read_beir(shared_data("beir", "scifact"), "test").corpus.values())
    docs = (corpus * (args.texts // len(corpus) + 1))[: args.texts]
    cpu = f"{torch.cpu.get_capabilities()['cpu_name']}, bf16 {cpu_bf16_level()}"
    if not onednn_bf16("cpu"):
        raise SystemExit(f"nothing to measure: this CPU ({cpu}) has no oneDNN bf16 path to pack")
    print(
        f"{len(docs)} SciFact abstracts, <= {args.max_length} tokens, bfloat16, "
        f"{cpu} ({torch.get_num_threads()} threads)"
    )
    header = f"{'model':<18} {'plain seq/s':>12} {'packed seq/s':>13} {'ratio':>7}"
    print(f"{header} {'max |1-cos|':>12}")
    for name, load in (("smollm2-135m", decoder), ("all-minilm-l6-v2", sentence_transformer)):
        encoders = load(name, args.max_length, False), load(name, args.max_length, True)
        (plain, packed), (before, after) = best_rates(*encoders, docs, args.repeats)
        drift = float(np.max(np.abs(1 - np.sum(before * after, axis=1))))
        print(f"{name:<18} {plain:>12.1f} {packed:>13.1f} {packed / plain:>6.2f}x {drift:>12.1e}")


if __name__ == "__main__":
    main()
