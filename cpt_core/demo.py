"""`cpt demo`: the most complete run that exists so far, end to end on CPU in minutes.

Fetch SmolLM2-135M; turn SciFact's train qrels into a pair shard (real claim/abstract
positives); measure retrieval on held-out SciFact test claims; train briefly with the gradient
cache; measure again; print what changed. Each stage is skipped when its output exists, so a
second run only re-measures.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from cpt_core.data.beir import beir_pairs, read_beir
from cpt_core.data.writer import write_dataset
from cpt_core.eval.ranking import mrr_at_k, ndcg_at_k, rank, recall_at_k
from cpt_core.model.embedder import Embedder
from cpt_core.model.folder import read_meta
from cpt_core.paths import shared_data
from cpt_core.pretrained.fetch import fetch
from cpt_core.train.config import load_config
from cpt_core.train.trainer import train


def run_demo(out: Path, config_path: Path, queries: int = 100, distractors: int = 200) -> dict:
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        timings[name] = round(time.perf_counter() - clock, 1)
        clock = time.perf_counter()

    config = load_config(config_path)
    _say(f"fetching {config.model.name}")
    fetch(config.model.name)
    lap("fetch model")

    scifact = shared_data("beir", "scifact")
    pairs = out / "pairs"
    if not pairs.exists():
        rows = beir_pairs(scifact, "train", pair_split="train")
        manifest = write_dataset(rows, pairs, kind="text", inputs=[str(scifact)], config={})
        _say(f"wrote {manifest.counts['rows']} SciFact train pairs to {pairs}")
    lap("pairs")

    test = _held_out(scifact, queries, distractors)
    _say(f"held out: {len(test['queries'])} SciFact test claims vs {len(test['docs'])} abstracts")
    before = _evaluate(Embedder.from_pretrained(config.model.name, max_length=128), test)
    lap("evaluate untrained")

    budget = (
        f", or what {config.optim.max_minutes:g} minutes hold" if config.optim.max_minutes else ""
    )
    _say(f"training: {config.optim.max_steps} steps of {config.data.batch_size} pairs{budget}")
    model = train(config, pairs, out / "train", resume=True)
    lap("train")
    _say(f"trained {read_meta(model).steps} steps")
    after = _evaluate(Embedder.from_pretrained(model, max_length=128), test)
    lap("evaluate trained")

    summary = {"untrained": before, "trained": after, "seconds": timings, "model": str(model)}
    (out / "demo.json").write_text(json.dumps(summary, indent=2) + "\n")
    _report(summary, out)
    return summary


def _held_out(folder: Path, queries: int, distractors: int) -> dict:
    """A fixed-seed sample: test claims, their relevant abstracts, and random other abstracts."""
    data = read_beir(folder, "test")
    rng = np.random.default_rng(0)
    qids = sorted(rng.choice(sorted(data.qrels), size=min(queries, len(data.qrels)), replace=False))
    relevant = sorted({d for q in qids for d in data.qrels[q]})
    others = sorted(set(data.corpus) - set(relevant))
    docs = relevant + sorted(rng.choice(others, size=distractors, replace=False).tolist())
    return {
        "queries": [data.queries[q] for q in qids],
        "relevant": [data.qrels[q] for q in qids],
        "doc_ids": docs,
        "docs": [data.corpus[d] for d in docs],
    }


def _evaluate(embedder: Embedder, test: dict) -> dict:
    q = embedder.encode(test["queries"], side="query", progress=True)
    d = embedder.encode(test["docs"], side="document", progress=True)
    top = rank(q, d, k=10)
    ranked = [[test["doc_ids"][i] for i in row] for row in top]
    relevant = [set(r) for r in test["relevant"]]
    return {
        "mrr@10": round(100 * mrr_at_k(ranked, relevant), 1),
        "ndcg@10": round(100 * ndcg_at_k(ranked, test["relevant"]), 1),
        "recall@10": round(100 * recall_at_k(ranked, relevant), 1),
        "mean_cosine": round(float((q @ d.T).mean()), 3),
    }


def _report(summary: dict, out: Path) -> None:
    before, after = summary["untrained"], summary["trained"]
    lines = ["", "SciFact held-out retrieval (x100)     untrained   trained"]
    for key in ("mrr@10", "ndcg@10", "recall@10"):
        lines.append(f"  {key:<34} {before[key]:>9} {after[key]:>9}")
    lines.append(
        f"  {'mean query-doc cosine':<34} {before['mean_cosine']:>9} {after['mean_cosine']:>9}"
    )
    lines.append("")
    lines.append(
        "seconds per stage: " + ", ".join(f"{k} {v}" for k, v in summary["seconds"].items())
    )
    lines.append(f"model: {summary['model']}")
    lines.append(f"curves: {out / 'train' / 'curves.png'}")
    print("\n".join(lines))


def _say(message: str) -> None:
    print(f"[demo] {message}", flush=True)
