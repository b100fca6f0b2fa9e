"""The whole trainer, before and after: pairs/s of `cpt train` from a baseline commit's checkout
and from this one, same pairs, same settings, each at its default precision.

The baseline runs from a `git worktree` of `--baseline` (default c0a8be9, the trainer before the
accelerator work), this checkout from itself; both train the real SmolLM2-135M on SciFact's
(claim, abstract) train pairs, written once by this checkout. Per-step pairs/s comes from each
run's metrics.jsonl (log_every 1), the first step (warm-up) left out; the median is reported,
and "wall" is the whole command, model loading included. Rows of one setting alternate
baseline/new `--repeat` times, so drift in the machine hits both alike.

    python bench/trainer_speed.py                       # demo settings and batch 64 / chunk 16
    python bench/trainer_speed.py --settings 16:8 --steps 6 --repeat 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cpt_core.data.beir import beir_pairs
from cpt_core.data.writer import write_dataset
from cpt_core.paths import shared_data

ROOT = Path(__file__).resolve().parent.parent


def checkout(revision: str, where: Path) -> Path:
    folder = where / f"baseline-{revision}"
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", "-f", str(folder), revision],
        check=True,
        capture_output=True,
    )
    return folder


def run(code: Path, pairs: Path, out: Path, batch: int, chunk: int, steps: int, extra: list[str]):
    overrides = {
        "data.batch_size": batch,
        "data.chunk_size": chunk,
        "optim.max_steps": steps,
        "log_every": 1,
        "checkpoint_every": 10_000,
    }
    command = [sys.executable, "-m", "cpt_core.cli", "train", "--pairs", str(pairs)]
    command += ["--out", str(out), "--config", str(ROOT / "configs" / "demo.yaml")]
    for key, value in overrides.items():
        command += ["--set", f"{key}={value}"]
    command += extra
    started = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(code)}
    subprocess.run(command, cwd=code, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - started
    records = [json.loads(line) for line in (out / "metrics.jsonl").open()]
    return statistics.median(r["pairs_per_s"] for r in records[1:]), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default="c0a8be9")
    parser.add_argument("--settings", default="16:8,64:16", help="batch:chunk, comma-separated")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--also",
        default="precision=fp32",
        help="an extra row: this checkout with this override (empty for none)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp)
        pairs = where / "pairs"
        rows = beir_pairs(shared_data("beir", "scifact"), "train", pair_split="train")
        write_dataset(rows, pairs, kind="text", inputs=["scifact"], config={"split": "train"})
        baseline = checkout(args.baseline, where)
        variants = [(f"baseline {args.baseline}", baseline, []), ("this checkout", ROOT, [])]
        if args.also:
            variants.append((f"this checkout, {args.also}", ROOT, ["--set", args.also]))
        table = []
        try:
            for setting in args.settings.split(","):
                batch, chunk = (int(v) for v in setting.split(":"))
                results: dict[str, list] = {name: [] for name, _, _ in variants}
                for attempt in range(args.repeat):
                    for number, (name, code, extra) in enumerate(variants):
                        out = where / f"run-{batch}-{attempt}-{number}"
                        results[name].append(run(code, pairs, out, batch, chunk, args.steps, extra))
                base = statistics.median(r[0] for r in results[variants[0][0]])
                for name, measured in results.items():
                    rate = statistics.median(r[0] for r in measured)
                    wall = statistics.median(r[1] for r in measured)
                    table.append((batch, chunk, name, rate, wall, rate / base))
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "-f", str(baseline)])
    print("| batch | chunk | trainer | pairs/s | wall s | vs baseline |")
    print("|---|---|---|---|---|---|")
    for batch, chunk, name, rate, wall, ratio in table:
        print(f"| {batch} | {chunk} | {name} | {rate:.2f} | {wall:.0f} | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
