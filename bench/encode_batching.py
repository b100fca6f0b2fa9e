"""Encode throughput by batch shape: 32 texts a batch (the old rule) vs padded-token budgets.

The same SmolLM2-135M embedder, the same real texts, as evaluation sends them: SciFact
abstracts (documents, up to 128 tokens) and SciFact claims (queries, ~20 tokens). The baseline
row cuts every batch at 32 texts, as `Embedder.encode` did before; the others cut by a budget of
padded tokens as well (longest x count, `cpt_core/model/token_batches.py`), at most `--max-texts`
texts (32: what `Embedder.encode` keeps). Each
measurement is the median of `--repeats` passes after a warm-up on 64 texts; "x" is texts/s over
the baseline's, measured in the same run.

    python bench/encode_batching.py                          # 192 texts of each kind
    python bench/encode_batching.py --budgets 1024 4096 16384 --texts 4096   # on a GPU
"""

from __future__ import annotations

import argparse
import statistics
import time

from cpt_core.data.beir import read_beir
from cpt_core.model.embedder import Embedder
from cpt_core.paths import shared_data
from cpt_core.pretrained.fetch import fetch

BASELINE_COUNT = 32


def sets(n: int) -> dict[str, tuple[list[str], str]]:
    scifact = read_beir(shared_data("beir", "scifact"), "test")
    documents = list(scifact.corpus.values())
    queries = list(scifact.queries.values())
    return {
        "documents": ((documents * (n // len(documents) + 1))[:n], "document"),
        "queries": ((queries * (n // len(queries) + 1))[:n], "query"),
    }


def rate(embedder: Embedder, texts: list[str], side: str, count: int, budget: int, repeats: int):
    embedder.encode(texts[:64], side, count, max_batch_tokens=budget)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        embedder.encode(texts, side, count, max_batch_tokens=budget)
        times.append(time.perf_counter() - start)
    return len(texts) / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", type=int, nargs="+", default=[512, 1024, 2048])
    parser.add_argument("--texts", type=int, default=192)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-texts", type=int, default=32, help="texts per batch at most")
    args = parser.parse_args()
    embedder = Embedder.from_pretrained(fetch("smollm2-135m"), max_length=args.max_length)
    shapes = [("32 texts", BASELINE_COUNT, 1 << 30)]
    shapes += [(f"{args.max_texts} texts, {b} tokens", args.max_texts, b) for b in args.budgets]
    print("| batches | documents/s | x | queries/s | x |\n|---|---:|---:|---:|---:|")
    base = {}
    for label, count, budget in shapes:
        cells = []
        for name, (texts, side) in sets(args.texts).items():
            value = rate(embedder, texts, side, count, budget, args.repeats)
            base.setdefault(name, value)
            cells += [f"{value:.1f}", f"{value / base[name]:.2f}x"]
        print(f"| {label} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
