"""Encode throughput: cpt's Embedder vs sentence-transformers' `encode`, same model and texts.

Both read SmolLM2-135M out at the last token, L2-normalised, with the same batch size and
token cap, over the same real SciFact abstracts (lengths vary, so batching order matters).
sentence-transformers wraps the same folder as Transformer + last-token Pooling. Rows compare
the two at the same dtype (float32, then bfloat16), then each library's default on this
machine (cpt: bfloat16 where the CPU or GPU has it; sentence-transformers: float32). Each
measurement runs after one warm-up batch; the ratio is sequences/s of cpt over theirs.

    python bench/encode.py                       # CPU: 192 abstracts, batch 32, 128 tokens
    python bench/encode.py --texts 4096 --max-length 256 --batch 128   # on a GPU
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch

from cpt_core.data.beir import read_beir
from cpt_core.model.embedder import Embedder
from cpt_core.paths import shared_data
from cpt_core.pretrained.fetch import fetch


def texts(n: int) -> list[str]:
    corpus = list(read_beir(shared_data("beir", "scifact"), "test").corpus.values())
    return (corpus * (n // len(corpus) + 1))[:n]


def cpt_rate(folder, docs, batch, max_length, dtype) -> tuple[float, np.ndarray]:
    embedder = Embedder.from_pretrained(folder, max_length=max_length, dtype=dtype)
    embedder.encode(docs[:batch], "document", batch)
    start = time.perf_counter()
    vectors = embedder.encode(docs, "document", batch)
    return len(docs) / (time.perf_counter() - start), vectors


def st_rate(folder, docs, batch, max_length, dtype) -> tuple[float, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from sentence_transformers import SentenceTransformer, models

    device = "cuda" if torch.cuda.is_available() else "cpu"
    kwargs = {"torch_dtype": torch.bfloat16} if dtype == "bfloat16" else {}
    backbone = models.Transformer(str(folder), model_kwargs=kwargs, max_seq_length=max_length)
    pooling = models.Pooling(backbone.get_embedding_dimension(), pooling_mode="lasttoken")
    model = SentenceTransformer(modules=[backbone, pooling], device=device)
    model.encode(docs[:batch], batch_size=batch)
    start = time.perf_counter()
    vectors = model.encode(docs, batch_size=batch, normalize_embeddings=True)
    return len(docs) / (time.perf_counter() - start), vectors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--texts", type=int, default=192)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=128)
    args = parser.parse_args()
    folder = fetch(args.model)
    docs = texts(args.texts)
    device = "cuda" if torch.cuda.is_available() else f"cpu ({torch.get_num_threads()} threads)"
    print(
        f"{args.model}, {len(docs)} SciFact abstracts, batch {args.batch}, "
        f"<= {args.max_length} tokens, {device}"
    )
    rows = [("float32", "float32"), ("bfloat16", "bfloat16"), ("auto", "float32")]
    print(f"{'cpt dtype':<10} {'st dtype':<10} {'cpt seq/s':>10} {'st seq/s':>10} {'ratio':>7}")
    for ours, theirs in rows:
        rate, _ = cpt_rate(folder, docs, args.batch, args.max_length, ours)
        other, _ = st_rate(folder, docs, args.batch, args.max_length, theirs)
        print(f"{ours:<10} {theirs:<10} {rate:>10.1f} {other:>10.1f} {rate / other:>6.2f}x")


if __name__ == "__main__":
    main()
