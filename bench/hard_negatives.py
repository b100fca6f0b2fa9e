"""Hard negatives mined from round 1's own index against the same compute in-batch only.

For each seed, from the same start (configs/demo.yaml's model), on the same pairs, with the same
pairs per step and the same total steps:
- one round of `--steps` steps with in-batch negatives only;
- round 1 of `--steps / 2` steps, then hard negatives mined for the training pairs with that
  model (cpt_core/negatives: top `--depth`, refused above `--margin` x the positive's score),
  then round 2 of `--steps / 2` steps continuing from round 1 with one mined negative per pair.
A third arm separates the second round's own effect (a fresh warm-up and decay) from the
negatives': round 1, then round 2 continuing with in-batch negatives only, on pairs drawn in
another order (the same data seed would hand it round 1's pairs again, which the mined arm,
drawing from its own sampled pairs, is not given).
Each is scored on SciFact (nDCG@10), CoSQA (MRR), the mined Go and Python functions' held-out
split (MRR, CodeSearchNet protocol) and STS-B/SICK (Spearman), on fixed samples; the table
gives each arm's mean over seeds and the mined arm's paired differences from the other two,
each with its 95% t-interval over seeds. Trained models and each model's scores are kept in
--out, so a rerun picks up where one stopped; results.json is written after every seed.

    python bench/hard_negatives.py --pairs runs/pipeline-demo/datasets/combine-KEY \
        --code-pairs runs/pipeline-demo/datasets/mine-code-KEY --steps 48 --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from textwrap import fill
from typing import TypeVar

from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state
from rich.console import Console
from rich.table import Table
from scipy import stats

from cpt_core.eval.profile import EvalData, load_profile
from cpt_core.eval.suite import evaluate
from cpt_core.negatives.config import HardNegativesConfig
from cpt_core.pipeline.stages import negatives_stage, train_stage

PRESET = "configs/demo.yaml"
ARMS = ("in-batch", "two rounds", "hard negatives")
T = TypeVar("T")


def overrides(steps: int, seed: int) -> dict:
    return {
        "optim.max_steps": steps,
        "optim.max_minutes": None,  # the same steps on any CPU: compute, not time, is fixed
        "optim.warmup_steps": min(3, steps - 1),
        "checkpoint_every": steps,
        "data.seed": seed,
        "log_every": 1,
    }


def timed(log: Path, label: str, work: Callable[[], T]) -> T:
    """`work()`, its seconds kept under `label` in `log` by the run that did it: a rerun finds
    the stage cached, and its own seconds would say nothing of what the stage costs."""
    recorded = json.loads(log.read_text()) if log.is_file() else {}
    started = time.perf_counter()
    result = work()
    if label not in recorded:
        recorded[label] = time.perf_counter() - started
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(json.dumps(recorded, indent=2) + "\n")
    return result


def trained_arms(args: argparse.Namespace, seed: int, out: Path) -> tuple[dict, dict]:
    """Each arm's model for this seed (trained, or found from an earlier run), and timings."""
    half = args.steps // 2
    log = out / "timings.json"
    plain = timed(
        log,
        "in-batch training s",
        lambda: train_stage(args.pairs, PRESET, overrides(args.steps, seed), out / "in-batch"),
    )
    first = timed(
        log,
        "round 1 s",
        lambda: train_stage(args.pairs, PRESET, overrides(half, seed), out / "round-1"),
    )
    config = HardNegativesConfig(
        enabled=True,
        depth=args.depth,
        margin=args.margin,
        queries=args.queries,
        pool=args.pool,
        seed=seed,
    )
    mined = out / "negatives"
    manifest = timed(
        log,
        "mining s",
        lambda: negatives_stage(first, args.pairs, config, args.max_length, mined),
    )
    rest = overrides(args.steps - half, seed)
    second = timed(
        log,
        "round 2 s",
        lambda: train_stage(
            mined, PRESET, rest | config.round_two({}), out / "round-2", init=first
        ),
    )
    fresh = rest | {"data.seed": seed + 1_000}  # round 1's order would repeat its pairs
    control = timed(
        log,
        "round 2 control s",
        lambda: train_stage(args.pairs, PRESET, fresh, out / "round-2-in-batch-fresh", init=first),
    )
    counts = {k: v for k, v in manifest.counts.items() if k.startswith(("negatives", "pairs_"))}
    arms = {"in-batch": plain, "two rounds": control, "hard negatives": second}
    for model in (plain, first, *arms.values()):  # resuming is all they are for: 2 GB each
        shutil.rmtree(model.parent / "checkpoints", ignore_errors=True)
    return arms, json.loads(log.read_text()) | counts


def scored(model: Path, profile, data: EvalData, cache: Path) -> dict[str, float]:
    """The model's headline figure per task (x100 already), kept in `cache` once computed."""
    if cache.is_file():
        return json.loads(cache.read_text())
    results = evaluate([str(model)], profile, data)
    headline = results["headline"]
    figures = {
        task: next(iter(by_model.values()))[headline[task.split("/")[0]]]
        for task, by_model in results["tasks"].items()
    }
    cache.write_text(json.dumps(figures, indent=2) + "\n")
    return figures


def summary(runs: dict[int, dict]) -> dict[str, dict]:
    """Per task: each arm's mean over seeds, and the mined arm's mean paired difference from
    each other arm with its 95% t-interval over seeds."""
    tasks = sorted(next(iter(runs.values()))["scores"]["in-batch"])
    rows = {}
    for task in tasks:
        arms = {arm: [r["scores"][arm][task] for r in runs.values()] for arm in ARMS}
        rows[task] = {arm: statistics.fmean(values) for arm, values in arms.items()}
        for other in ARMS[:-1]:
            differences = [h - b for b, h in zip(arms[other], arms[ARMS[-1]], strict=True)]
            rows[task][f"vs {other}"] = interval(differences)
    return rows


def interval(differences: list[float]) -> list[float]:
    """The mean and its 95% t-interval (just the mean for one seed)."""
    mean = statistics.fmean(differences)
    half = 0.0
    if len(differences) > 1:
        spread = statistics.stdev(differences) / len(differences) ** 0.5
        half = stats.t.ppf(0.975, len(differences) - 1) * spread
    return [mean, mean - half, mean + half]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=Path, required=True, help="pair shards: train split")
    parser.add_argument("--code-pairs", help="mined code pairs: code search on their test split")
    parser.add_argument("--steps", type=int, default=48, help="total steps of either arm")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--depth", type=int, default=30)
    parser.add_argument("--margin", type=float, default=0.95)
    parser.add_argument("--queries", type=int, default=1024, help="pairs given negatives")
    parser.add_argument("--pool", type=int, default=4000, help="documents searched")
    parser.add_argument("--max-length", type=int, default=64, help="the preset's, for search")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-hard-negatives"))
    args = parser.parse_args()
    profile = load_profile(
        "quick",
        {
            "families": ["sts", "search", "code"],
            "model_minutes": None,  # the same samples for every model, whatever the machine
            "sts.pairs": 300,
            "search.queries": 150,
            "search.documents": 400,
            "code.cosqa_queries": 200,
            "code.cosqa_documents": 400,
            "code.candidates": 250,
        },
    )
    data = EvalData(code_pairs=(args.code_pairs,) if args.code_pairs else ())
    runs: dict[int, dict] = {}
    for seed in (int(s) for s in args.seeds.split(",")):
        out = args.out / f"seed-{seed}"
        models, timings = trained_arms(args, seed, out)
        runs[seed] = {"timings": timings, "scores": {}}
        for arm, model in models.items():
            cache = out / f"scores-{model.parent.name}.json"  # a changed arm scores again
            runs[seed]["scores"][arm] = scored(model, profile, data, cache)
        results = {"steps": args.steps, "runs": runs, "summary": summary(runs)}
        (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
        print(f"seed {seed}: {json.dumps(runs[seed], default=str)}", flush=True)
    table = Table(
        title=f"{args.steps} steps, in-batch only vs {args.steps // 2} + mined negatives "
        f"+ {args.steps - args.steps // 2}, seeds {args.seeds} (x100)"
    )
    for column in (
        "task",
        "1 round",
        "2 rounds",
        "2 rounds, mined",
        "mined - 1 round",
        "mined - 2",
    ):
        table.add_column(column, justify="right")
    rows = summary(runs)
    for task, row in rows.items():
        compared = ["{:+.1f} [{:+.1f}, {:+.1f}]".format(*row[f"vs {other}"]) for other in ARMS[:-1]]
        table.add_row(task.split("/")[-1], *(f"{row[arm]:.1f}" for arm in ARMS), *compared)
    Console(width=120).print(table)
    figure = Figure(figsize=(8, 3.8))
    axis = figure.subplots()
    names = list(rows)
    for offset, arm, color in ((-0.27, ARMS[0], "C0"), (0, ARMS[1], "C2"), (0.27, ARMS[2], "C1")):
        for position, task in enumerate(names):
            values = [r["scores"][arm][task] for r in runs.values()]
            axis.scatter([position + offset] * len(values), values, s=14, color=color)
        axis.bar(
            [p + offset for p in range(len(names))],
            [rows[t][arm] for t in names],
            width=0.27,
            alpha=0.35,
            color=color,
            label=arm,
        )
    axis.set_xticks(range(len(names)), [fill(n.split("/")[-1], 16) for n in names], fontsize=8)
    axis.set_ylabel("headline metric (x100)")
    axis.legend()
    figure.tight_layout()
    figure.savefig(args.out / "hard_negatives.png", dpi=120)
    print(f"results: {args.out / 'results.json'}, chart: {args.out / 'hard_negatives.png'}")


if __name__ == "__main__":
    main()
