"""Index benchmark: queries/s and recall@10 of exact, HNSW and IVF-PQ FAISS indexes.

Two corpora: N synthetic-but-clustered unit vectors (Gaussian clusters of Zipf sizes in a
low-dimensional latent space, mapped into the full width), and real embeddings of SciFact's 5183
abstracts with SciFact's 300 test claims as queries. Recall@10 is against exact search (the
flat index), which is 1.0 by definition; queries/s is measured on one batch of queries, and
the ratio is against exact search in the same run.

    python bench/index.py                          # 1M x 128 synthetic + SciFact (MiniLM)
    python bench/index.py --vectors 200000 --model smollm2-135m
"""

from __future__ import annotations

import argparse
import time

import faiss
import numpy as np

from cpt_core.data.beir import read_beir
from cpt_core.errors import CptError
from cpt_core.eval.embedding_cache import CachedEncoder
from cpt_core.index.faiss_index import make_index
from cpt_core.model.encoders import load_encoder
from cpt_core.paths import shared_data


def clustered(n: int, dim: int, clusters: int, latent: int = 24, seed: int = 0) -> np.ndarray:
    """Clusters of Zipf-distributed sizes in a `latent`-dimensional space, mapped linearly into
    `dim` dimensions with a little isotropic noise: text embeddings, too, fill a space of far
    lower intrinsic dimension than their width, which is what makes ANN search work at all."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, latent)).astype(np.float32)
    sizes = rng.zipf(1.5, clusters).astype(float)
    members = rng.choice(clusters, size=n, p=sizes / sizes.sum())
    points = centres[members] + 0.5 * rng.normal(size=(n, latent)).astype(np.float32)
    mixing = rng.normal(size=(latent, dim)).astype(np.float32) / np.sqrt(latent)
    vectors = points @ mixing + 0.05 * rng.normal(size=(n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def scifact(model: str) -> tuple[np.ndarray, np.ndarray]:
    data = read_beir(shared_data("beir", "scifact"), "test")
    encoder = CachedEncoder(load_encoder(model, max_length=256))
    documents = encoder.encode(list(data.corpus.values()), "document")
    queries = encoder.encode([data.queries[q] for q in sorted(data.qrels)], "query")
    return documents, queries


def measure(name: str, vectors: np.ndarray, queries: np.ndarray, k: int = 10) -> None:
    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(vectors)
    _, truth = exact.search(queries, k)
    base = None
    for kind in ("flat", "hnsw", "ivfpq"):
        start = time.perf_counter()
        try:
            index = make_index(vectors, kind)
        except CptError as exc:
            print(f"{name:<28} {kind:<6} not built: {exc}")
            continue
        built = time.perf_counter() - start
        start = time.perf_counter()
        _, found = index.search(queries, k)
        rate = len(queries) / (time.perf_counter() - start)
        base = base or rate
        recall = np.mean([len(set(t) & set(f)) / k for t, f in zip(truth, found, strict=True)])
        print(
            f"{name:<28} {kind:<6} {built:>8.1f} {rate:>11.0f} {rate / base:>7.1f}x {recall:>9.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--model", default="all-minilm-l6-v2")
    args = parser.parse_args()
    print(f"faiss {faiss.__version__}, {faiss.omp_get_max_threads()} threads")
    header = ("corpus", "index", "build s", "queries/s", "ratio", "recall@10")
    print("{:<28} {:<6} {:>8} {:>11} {:>8} {:>9}".format(*header))
    data = clustered(args.vectors + args.queries, args.dim, clusters=1000)
    name = f"synthetic {args.vectors:,} x {args.dim}"
    measure(name, data[: args.vectors], data[args.vectors :])
    documents, queries = scifact(args.model)
    measure(f"SciFact {len(documents)} x {documents.shape[1]} ({args.model})", documents, queries)


if __name__ == "__main__":
    main()
