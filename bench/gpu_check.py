"""The trainer on one GPU at the paper's scale: MFU, pairs/s, peak memory, cached vs plain.

Runs where the GPU is (see bench/gpu_check.sh, which also prepares the kit it needs here): a
randomly initialised model of SmolLM2-135M's exact architecture (its config and tokenizer
travel, its 270 MB of weights need not: speed does not depend on their values), real mined
pairs, seq 128, bf16 autocast as the trainer runs it.

1. Steps, in this process: the contrastive step (forward + backward, the trainer's own
   `contrastive_step`) at batch 64 (plain) and 4096 (gradient cache, chunk 256), and plain
   against cached at batch 256 (chunk 64): median of timed steps after a warm-up, the
   allocator's peak memory, MFU from the same FLOP count the trainer logs.
2. The whole trainer: `cpt train` at batch 4096, chunk 256 for a few steps (prefetch, fused
   AdamW, logging): pairs/s, tokens/s and MFU from its metrics.jsonl; then the same with
   `compile: true` if the time budget allows.

Targets (issue 16): MFU >= 40%, peak at 4096 <= 1.5x peak at 64, cached step <= 1.4x plain.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from cpt_core.data.pair_batches import BatcherState, DedupBatcher
from cpt_core.data.reader import PairSource
from cpt_core.loss.grad_cache import contrastive_step
from cpt_core.train.config import LossConfig, ModelConfig
from cpt_core.train.feed import tokenize
from cpt_core.train.flops import FlopCounter, peak_flops
from cpt_core.train.setup import build_encoder, build_scale

STARTED = time.perf_counter()


def random_model(skeleton: Path, out: Path) -> Path:
    """SmolLM2-135M's architecture with random weights, saved as a model folder."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    torch.manual_seed(0)
    AutoModel.from_config(AutoConfig.from_pretrained(skeleton)).save_pretrained(out)
    AutoTokenizer.from_pretrained(skeleton).save_pretrained(out)
    return out


def time_steps(model: Path, pairs: Path, batch: int, chunk: int, steps: int) -> dict:
    device = torch.device("cuda")
    encoder = build_encoder(ModelConfig(name=str(model), max_length=128), device)
    scale = build_scale(LossConfig(), device)
    batcher = DedupBatcher(PairSource(pairs, split=None), batch, 0, BatcherState())
    counter, peak = FlopCounter.of(encoder.backbone), peak_flops(device, bf16=True)
    prepared = [
        tokenize(encoder.tokenizer, batcher.next_batch()).prepare(
            encoder.tokenizer, chunk, pin=True
        )
        for _ in range(steps + 1)
    ]
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    times = []
    for number, step in enumerate(prepared):
        torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            contrastive_step(encoder, scale, step)
        encoder.zero_grad(set_to_none=False)  # the trainer keeps gradients allocated too
        torch.cuda.synchronize()
        if number:  # the first step is warm-up
            times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    flops = statistics.median(counter.training(p.lengths) for p in prepared[1:])
    result = {
        "batch": batch,
        "chunk": chunk if prepared[0].cached else batch,
        "seconds": seconds,
        "pairs_per_s": batch / seconds,
        "peak_gb": (torch.cuda.max_memory_allocated() - base) / 2**30,
        "mfu": flops / seconds / peak if peak else None,
    }
    del encoder, scale, prepared
    torch.cuda.empty_cache()
    return result


def train_run(model: Path, pairs: Path, out: Path, steps: int, extra: list[str]) -> dict:
    overrides = {
        "model.name": model,
        "model.max_length": 128,
        "data.batch_size": 4096,
        "data.chunk_size": 256,
        "optim.max_steps": steps,
        "optim.warmup_steps": 1,
        "precision": "bf16",
        "log_every": 1,
        "checkpoint_every": 10_000,
    }
    command = [sys.executable, "-m", "cpt_core.cli", "train", "--pairs", str(pairs), "--split"]
    command += ["all", "--out", str(out)]
    for key, value in overrides.items():
        command += ["--set", f"{key}={value}"]
    started = time.perf_counter()
    subprocess.run([*command, *extra], check=True)
    records = [json.loads(line) for line in (out / "metrics.jsonl").open()][2:]
    return {
        "wall_s": time.perf_counter() - started,
        "pairs_per_s": statistics.median(r["pairs_per_s"] for r in records),
        "tokens_per_s": statistics.median(r["tokens_per_s"] for r in records),
        "mfu": statistics.median(r["mfu"] for r in records) if records[0]["mfu"] else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kit", type=Path, default=Path(".gpu-kit"))
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "gpu-check")))
    parser.add_argument("--budget", type=float, default=420, help="seconds; skips the rest")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path("/tmp/cpt-gpu-check")
    model = random_model(args.kit / "smollm2-135m", work / "model")
    pairs = args.kit / "pairs"
    print(torch.cuda.get_device_name(), "torch", torch.__version__, flush=True)
    steps = {}
    for name, batch, chunk in (
        ("plain-64", 64, 0),
        ("plain-256", 256, 0),
        ("cached-256", 256, 64),
        ("cached-4096", 4096, 256),
    ):
        steps[name] = time_steps(model, pairs, batch, chunk, steps=3)
        print(name, json.dumps(steps[name]), flush=True)
    runs = {"trainer": train_run(model, pairs, work / "run", 8, [])}
    print("trainer", json.dumps(runs["trainer"]), flush=True)
    if time.perf_counter() - STARTED < args.budget:
        runs["trainer-compiled"] = train_run(
            model, pairs, work / "run-c", 8, ["--set", "compile=true"]
        )
        print("trainer-compiled", json.dumps(runs["trainer-compiled"]), flush=True)
    checks = {
        "mfu_at_4096": steps["cached-4096"]["mfu"],
        "peak_4096_over_64": steps["cached-4096"]["peak_gb"] / steps["plain-64"]["peak_gb"],
        "cached_over_plain_256": steps["cached-256"]["seconds"] / steps["plain-256"]["seconds"],
    }
    body = {"steps": steps, "runs": runs, "checks": checks, "device": torch.cuda.get_device_name()}
    (args.out / "gpu_check.json").write_text(json.dumps(body, indent=2) + "\n")
    print("\n| step | batch | chunk | s/step | pairs/s | peak GB | MFU |")
    print("|---|---|---|---|---|---|---|")
    for name, r in steps.items():
        mfu = f"{100 * r['mfu']:.1f}%" if r["mfu"] else "-"
        print(
            f"| {name} | {r['batch']} | {r['chunk']} | {r['seconds']:.3f} | "
            f"{r['pairs_per_s']:.0f} | {r['peak_gb']:.2f} | {mfu} |"
        )
    for name, r in runs.items():
        mfu = f"{100 * r['mfu']:.1f}%" if r["mfu"] else "-"
        print(
            f"\n{name}: {r['pairs_per_s']:.0f} pairs/s, {r['tokens_per_s']:.0f} tokens/s, MFU {mfu}"
        )
    print(
        f"\nMFU at 4096 {100 * (checks['mfu_at_4096'] or 0):.1f}% (target >= 40%); peak 4096 / 64 "
        f"{checks['peak_4096_over_64']:.2f}x (<= 1.5x); cached / plain at 256 "
        f"{checks['cached_over_plain_256']:.2f}x (<= 1.4x)"
    )


if __name__ == "__main__":
    main()
