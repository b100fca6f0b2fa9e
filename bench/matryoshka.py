"""Matryoshka widths against the same model trained without them and truncated.

Two runs of configs/demo.yaml from the same start, on the same pairs, for the same steps and
seed: one with `loss.matryoshka_dims` (64, 128, 256 and the full 576 by default), one without.
Each model embeds a fixed sample of SciFact (nDCG@10) and CoSQA (MRR) once, at full width; each
width's figure comes from the renormalised prefixes, which is what `dimensions` and
`cpt index build --dim` serve. Step time comes from each run's metrics.jsonl (median over the
logged windows after the first step). Prints a table, writes results.json and a chart.

    python bench/matryoshka.py --pairs runs/pipeline-demo/datasets/combine-KEY --steps 12
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state
from rich.console import Console
from rich.table import Table

from cpt_core.data.beir import BeirSet, read_beir
from cpt_core.eval.code_sets import read_cosqa
from cpt_core.eval.ranking import mrr_at_k, ndcg_at_k, rank
from cpt_core.eval.search import sample_search
from cpt_core.model.embedder import Embedder
from cpt_core.model.widths import narrowed
from cpt_core.paths import shared_data
from cpt_core.train.config import load_config
from cpt_core.train.trainer import train


def trained(
    pairs: str, out: Path, steps: int, dims: list | None, weights: list[float] | None = None
) -> tuple[Path, float]:
    """A demo-preset model (from its cache when this bench ran before) and its s/step."""
    overrides = {"optim.max_steps": steps, "optim.max_minutes": None, "log_every": 1}
    overrides |= {"optim.warmup_steps": min(3, steps - 1), "checkpoint_every": steps}
    if dims:
        overrides["loss.matryoshka_dims"] = dims
        overrides["loss.matryoshka_weights"] = weights or [1.0] * len(dims)
    config = load_config("configs/demo.yaml", **overrides)
    model = out / "model"
    if not model.is_dir():
        train(config, pairs, out)
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    batch = config.data.batch_size
    return model, statistics.median(batch / r["pairs_per_s"] for r in records[1:])


def figures(model: Path, sets: dict[str, BeirSet], widths: list[int]) -> dict:
    """Per set and width: nDCG@10 (SciFact) or MRR (CoSQA), from one full-width embedding."""
    embedder = Embedder.from_pretrained(model, dtype="float32")
    found: dict[str, dict[int, float]] = {}
    for name, data in sets.items():
        qids, doc_ids = sorted(data.qrels), sorted(data.corpus)
        queries = embedder.encode([data.queries[q] for q in qids], "query")
        documents = embedder.encode([data.corpus[d] for d in doc_ids], "document")
        graded = [data.qrels[q] for q in qids]
        found[name] = {}
        for width in widths:
            top = rank(narrowed(queries, width), narrowed(documents, width), len(doc_ids))
            ranked = [[doc_ids[i] for i in row] for row in top]
            if name == "SciFact":
                found[name][width] = 100 * ndcg_at_k(ranked, graded, 10)
            else:
                found[name][width] = 100 * mrr_at_k(ranked, [set(g) for g in graded], len(doc_ids))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", required=True, help="pair shards (a mined dataset folder)")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--dims", default="64,128,256,full")
    parser.add_argument("--weights", default=None, help="one per width (default: 1 each)")
    parser.add_argument("--queries", type=int, default=75)
    parser.add_argument("--documents", type=int, default=200)
    parser.add_argument("--out", default="runs/bench-matryoshka")
    args = parser.parse_args()
    dims = [d if d == "full" else int(d) for d in args.dims.split(",")]
    out = Path(args.out)
    sets = {
        "SciFact": read_beir(shared_data("beir", "scifact"), "test"),
        "CoSQA": read_cosqa(shared_data("code", "cosqa")),
    }
    sets = {k: sample_search(v, args.queries, args.documents, seed=0) for k, v in sets.items()}
    plain, plain_step = trained(args.pairs, out / "plain", args.steps, None)
    weights = [float(w) for w in args.weights.split(",")] if args.weights else None
    nested, nested_step = trained(args.pairs, out / "matryoshka", args.steps, dims, weights)
    full = Embedder.from_pretrained(plain, dtype="float32").dim
    widths = sorted({full if d == "full" else d for d in dims})
    results = {
        "steps": args.steps,
        "weights": weights,
        "widths": widths,
        "seconds_per_step": {"plain": plain_step, "matryoshka": nested_step},
        "plain": figures(plain, sets, widths),
        "matryoshka": figures(nested, sets, widths),
        "sizes": {
            k: {"queries": len(v.qrels), "documents": len(v.corpus)} for k, v in sets.items()
        },
    }
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    table = Table(title=f"Matryoshka vs truncated, {args.steps} steps each (x100)")
    for column in ("width", "SciFact nDCG@10: MRL", "truncated", "CoSQA MRR: MRL", "truncated"):
        table.add_column(column, justify="right")
    for width in widths:
        table.add_row(
            str(width),
            *(
                f"{results[run][name][width]:.1f}"
                for name in ("SciFact", "CoSQA")
                for run in ("matryoshka", "plain")
            ),
        )
    table.add_row(
        "s/step", f"{nested_step:.1f}", f"{plain_step:.1f}", f"{nested_step / plain_step:.2f}x", ""
    )
    Console(width=120).print(table)
    figure = Figure(figsize=(9, 3.5))
    axes = figure.subplots(1, 2)
    for axis, name in zip(axes, ("SciFact", "CoSQA"), strict=True):
        for run, label in (("matryoshka", "Matryoshka"), ("plain", "plain, truncated")):
            axis.plot(widths, [results[run][name][w] for w in widths], marker="o", label=label)
        axis.set_xscale("log", base=2)
        axis.set_xticks(widths, [str(w) for w in widths])
        axis.set_title(f"{name} ({'nDCG@10' if name == 'SciFact' else 'MRR'})")
        axis.set_xlabel("width")
        axis.legend()
    figure.tight_layout()
    figure.savefig(out / "matryoshka.png", dpi=120)
    print(f"results: {out / 'results.json'}, chart: {out / 'matryoshka.png'}")


if __name__ == "__main__":
    main()
