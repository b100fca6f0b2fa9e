"""The trainer on one GPU at the paper's scale, a row per speed lever: MFU, pairs/s, peak memory.

Runs where the GPU is (bench/gpu_check.sh prepares the kit here and runs this there): a randomly
initialised model of SmolLM2-135M's exact architecture (its config and tokenizer travel; speed
does not depend on the weights' values), real mined pairs, seq 128, bf16 autocast as the
trainer runs it unless a row says `bf16w` (`precision: bf16-weights`: bf16 weights, float32
masters; the masters' update is timed with the step, as autocast's weight casts are). Rows, in
the order of what they tell:

1. plain steps at batch 64 and 256 (and 256 with bf16 weights): the baselines for memory and
   for the gradient cache's cost;
2. the gradient cache at batch 256 / chunk 64 and 4096 / chunk 256, padded, then packed
   (`data.pack`: one width for every chunk, no FLOPs on padding), then packed with bf16
   weights;
3. sentence-transformers' CachedMultipleNegativesRankingLoss at 256 / 64: the same
   architecture, data, batch and chunk;
4. a profile of one packed cached step, under autocast and with bf16 weights: kernel time
   against wall time, launches, top kernels;
5. `cpt train` packed at 4096 / 256 (prefetch, fused AdamW, logging), under autocast and with
   bf16 weights;
6. the packed step with Liger-Kernel's fused RMSNorm, rotary and SwiGLU (`model.fused_kernels`,
   when its wheel is in the kit), then compiled (compile time, then the steady state);
7. what the time budget leaves: sentence-transformers at 4096 / 256, `cpt train` compiled.

Each row is written to gpu_check.json as soon as it is measured, so a run cut short still
reports; a row that fails records its error and the next one runs.

    bash bench/gpu_check.sh                 # there: the whole check, within ~8 minutes
    python bench/gpu_check.py --dry-run     # any CPU, tiny shapes: every row's code (a test)

Targets: MFU >= 40% at 4096 / 256, cached <= 1.3x plain at 256, peak at 4096 <= 1.5x peak at
64, and ahead of sentence-transformers in pairs/s.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from st_cached import st_cached_step

from cpt_core.data.pair_batches import BatcherState, DedupBatcher
from cpt_core.data.reader import PairSource
from cpt_core.loss.grad_cache import contrastive_step
from cpt_core.train.config import LossConfig, ModelConfig
from cpt_core.train.feed import tokenize
from cpt_core.train.flops import FlopCounter, peak_flops
from cpt_core.train.master_weights import MasterWeights
from cpt_core.train.setup import build_encoder, build_scale

STARTED = time.perf_counter()


@dataclass(frozen=True)
class Shapes:
    seq: int
    plain: tuple[int, int]  # batch sizes of the plain rows
    small: tuple[int, int]  # (batch, chunk)
    large: tuple[int, int]
    steps: int  # timed steps after one warm-up
    train_steps: int


GPU = Shapes(seq=128, plain=(64, 256), small=(256, 64), large=(4096, 256), steps=3, train_steps=8)
DRY = Shapes(seq=32, plain=(4, 8), small=(8, 2), large=(16, 4), steps=1, train_steps=3)


class Report:
    """Rows as they come, each written to gpu_check.json at once."""

    def __init__(self, path: Path, device: str, budget: float):
        self.path, self.budget = path, budget  # seconds since start; later rows skip
        self.body = {"device": device, "torch": torch.__version__, "rows": {}}

    def run(self, name: str, measure: Callable[[], dict], *, skip: str | None = None) -> None:
        if skip is None and time.perf_counter() - STARTED > self.budget:
            skip = "the time budget was spent"
        if skip:
            row = {"skipped": skip}
        else:
            try:
                row = measure()
            except Exception as exc:  # one lever failing must not cost the others' rows
                row = {"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()}
        self.body["rows"][name] = row
        self.path.write_text(json.dumps(self.body, indent=2) + "\n")
        shown = {k: v for k, v in row.items() if k not in ("trace", "top")}
        print(name, json.dumps(shown), flush=True)


class Bench:
    """The model, data and device every row shares."""

    def __init__(self, model: Path, pairs: Path, shapes: Shapes, dry: bool, limit: float):
        self.model, self.pairs, self.shapes, self.dry = model, pairs, shapes, dry
        self.limit = limit  # seconds since start: a trainer row's process is stopped there
        self.device = torch.device("cpu" if dry else "cuda")
        self.cuda = self.device.type == "cuda"

    def _autocast(self, bf16_weights: bool = False):
        if self.cuda and not bf16_weights:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()  # a CPU dry run checks code paths, not speed

    def _encoder(self, bf16_weights: bool, fused: bool = False):
        """The trainer's encoder, and the step's end: the masters' update with bf16 weights
        (their gradients zeroed and pushed back as the trainer does after its optimiser)."""
        config = ModelConfig(name=str(self.model), max_length=self.shapes.seq, fused_kernels=fused)
        encoder = build_encoder(config, self.device)
        if not bf16_weights:
            return encoder, lambda: encoder.zero_grad(set_to_none=False)
        master = MasterWeights(encoder.backbone)

        def end() -> None:
            master.twin.zero_grad(set_to_none=False)
            master.push()

        return encoder, end

    def _batches(self, batch: int, count: int) -> list[list]:
        batcher = DedupBatcher(PairSource(self.pairs, split=None), batch, 0, BatcherState())
        return [batcher.next_batch() for _ in range(count)]

    def _sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    def _memory(self) -> tuple[Callable[[], None], Callable[[], float | None]]:
        if not self.cuda:
            return (lambda: None), (lambda: None)
        base = torch.cuda.memory_allocated()

        def reset() -> None:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()

        return reset, lambda: (torch.cuda.max_memory_allocated() - base) / 2**30

    def steps(
        self,
        batch: int,
        chunk: int,
        *,
        packed: bool = False,
        fused: bool = False,
        compiled: bool = False,
        bf16_weights: bool = False,
    ) -> dict:
        """The trainer's own contrastive step: median of timed steps after a warm-up (the
        compile, when compiled), the allocator's peak, MFU from the trainer's FLOP count."""
        encoder, end = self._encoder(bf16_weights, fused)
        if compiled:
            encoder.backbone.compile(dynamic=False)
        scale = build_scale(LossConfig(), self.device)
        counter = FlopCounter.of(encoder.backbone)
        peak = peak_flops(self.device, bf16=self.cuda)
        prepared = [
            tokenize(encoder.tokenizer, pairs).prepare(
                encoder.tokenizer, chunk, pin=self.cuda, packed=packed
            )
            for pairs in self._batches(batch, self.shapes.steps + 1)
        ]
        reset, peak_gb = self._memory()
        reset()
        times = []
        for step in prepared:
            self._sync()
            start = time.perf_counter()
            with self._autocast(bf16_weights):
                contrastive_step(encoder, scale, step)
            end()  # the trainer keeps gradients allocated too
            self._sync()
            times.append(time.perf_counter() - start)
        seconds = statistics.median(times[1:])
        flops = statistics.median(counter.training(p.lengths) for p in prepared[1:])
        row = {
            "batch": batch,
            "chunk": chunk if prepared[0].cached else batch,
            "packed": packed,
            "bf16_weights": bf16_weights,
            "seconds": seconds,
            "pairs_per_s": batch / seconds,
            "peak_gb": peak_gb(),
            "mfu": flops / seconds / peak if peak else None,
        }
        if compiled:
            row["first_step_s"] = times[0]  # the compile, mostly
        del encoder, scale, prepared
        if self.cuda:
            torch.cuda.empty_cache()
        return row

    def sentence_transformers(self, batch: int, chunk: int) -> dict:
        pairs = self._batches(batch, 1)[0]
        dtype = torch.bfloat16 if self.cuda else torch.float32
        run, _, _ = st_cached_step(
            str(self.model),
            [p.x for p in pairs],
            [p.y for p in pairs],
            chunk,
            self.shapes.seq,
            dtype,
            self.device.type,
        )
        reset, peak_gb = self._memory()
        reset()
        times = []
        for _ in range(self.shapes.steps + 1):
            self._sync()
            start = time.perf_counter()
            run()
            self._sync()
            times.append(time.perf_counter() - start)
        seconds = statistics.median(times[1:])
        return {
            "batch": batch,
            "chunk": chunk,
            "seconds": seconds,
            "pairs_per_s": batch / seconds,
            "peak_gb": peak_gb(),
        }

    def profile(self, batch: int, chunk: int, bf16_weights: bool = False) -> dict:
        """One packed cached step after two warm-ups, under torch.profiler."""
        from torch.autograd import DeviceType
        from torch.profiler import ProfilerActivity, profile

        encoder, end = self._encoder(bf16_weights)
        scale = build_scale(LossConfig(), self.device)
        prepared = [
            tokenize(encoder.tokenizer, pairs).prepare(encoder.tokenizer, chunk, packed=True)
            for pairs in self._batches(batch, 3)
        ]

        def step(prepared_step) -> None:
            with self._autocast(bf16_weights):
                contrastive_step(encoder, scale, prepared_step)
            end()
            self._sync()

        for warm in prepared[:2]:
            step(warm)
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if self.cuda else [])
        start = time.perf_counter()
        with profile(activities=activities) as trace:
            step(prepared[2])
        wall = time.perf_counter() - start

        def device_us(event) -> float:
            return getattr(event, "self_device_time_total", None) or event.self_cuda_time_total

        events = trace.key_averages()
        if self.cuda:
            kernels = [e for e in events if e.device_type == DeviceType.CUDA]
            timed = sorted(kernels, key=device_us, reverse=True)
            top = [{"name": e.key[:80], "ms": device_us(e) / 1e3, "calls": e.count} for e in timed]
            kernel_s = sum(device_us(e) for e in kernels) / 1e6
            launches = sum(e.count for e in kernels)
        else:  # a dry run: the host's operators instead of kernels
            timed = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)
            top = [
                {"name": e.key[:80], "ms": e.self_cpu_time_total / 1e3, "calls": e.count}
                for e in timed
            ]
            kernel_s, launches = None, None
        return {
            "batch": batch,
            "chunk": chunk,
            "wall_s": wall,
            "kernel_s": kernel_s,
            "idle": 1 - kernel_s / wall if kernel_s else None,
            "launches": launches,
            "top": top[:8],
        }

    def trainer(self, out: Path, extra: dict) -> dict:
        """`cpt train` as a user runs it, for a few steps: rates from its metrics.jsonl."""
        batch, chunk = self.shapes.large
        overrides = {
            "model.name": self.model,
            "model.max_length": self.shapes.seq,
            "data.batch_size": batch,
            "data.chunk_size": chunk,
            "data.pack": True,
            "optim.max_steps": self.shapes.train_steps,
            "optim.warmup_steps": 1,
            "precision": "bf16" if self.cuda else "fp32",
            "log_every": 1,
            "checkpoint_every": 10_000,
            **extra,
        }
        command = [sys.executable, "-m", "cpt_core.cli", "train", "--pairs", str(self.pairs)]
        command += ["--split", "all", "--out", str(out)]
        for key, value in overrides.items():
            command += ["--set", f"{key}={value}"]
        started = time.perf_counter()
        left = max(self.limit - (time.perf_counter() - STARTED), 1)
        subprocess.run(command, check=True, timeout=left)  # its row records the timeout
        records = [json.loads(line) for line in (out / "metrics.jsonl").open()]
        steady = records[2:] or records[-1:]  # the first steps pay for warm-up (and compiling)
        mfu = [r["mfu"] for r in steady if r.get("mfu")]
        return {
            "batch": batch,
            "chunk": chunk,
            "wall_s": time.perf_counter() - started,
            "pairs_per_s": statistics.median(r["pairs_per_s"] for r in steady),
            "tokens_per_s": statistics.median(r["tokens_per_s"] for r in steady),
            "mfu": statistics.median(mfu) if mfu else None,
        }


def random_model(skeleton: Path, out: Path, dry: bool) -> Path:
    """SmolLM2-135M's architecture with random weights (shrunk for a dry run), as a folder."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    config = AutoConfig.from_pretrained(skeleton)
    if dry:
        config.update({"num_hidden_layers": 2, "hidden_size": 64, "intermediate_size": 128})
        config.update({"num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 32})
    torch.manual_seed(0)
    AutoModel.from_config(config).save_pretrained(out)
    AutoTokenizer.from_pretrained(skeleton).save_pretrained(out)
    return out


def dry_inputs(work: Path) -> tuple[Path, Path]:
    """For a dry run: SmolLM2's config and tokenizer from the model cache, and SciFact's
    (title, abstract) pairs as a dataset."""
    from cpt_core.data.beir import beir_pairs
    from cpt_core.data.writer import write_dataset
    from cpt_core.paths import shared_data
    from cpt_core.pretrained.fetch import fetch

    scifact = shared_data("beir", "scifact")
    rows = list(beir_pairs(scifact, "train", pair_split="train"))
    write_dataset(rows, work / "pairs", kind="text", inputs=[str(scifact)], config={})
    return fetch("smollm2-135m"), work / "pairs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kit", type=Path, default=Path(".gpu-kit"))
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "gpu-check")))
    parser.add_argument("--budget", type=float, default=420, help="seconds; later rows skip")
    parser.add_argument(
        "--limit", type=float, default=480, help="seconds; a `cpt train` row still running stops"
    )
    parser.add_argument("--dry-run", action="store_true", help="on a CPU, tiny shapes")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="cpt-gpu-check-"))
    if args.dry_run:
        skeleton, pairs = dry_inputs(work)
    else:
        skeleton, pairs = args.kit / "smollm2-135m", args.kit / "pairs"
    shapes = DRY if args.dry_run else GPU
    model = random_model(skeleton, work / "model", args.dry_run)
    bench = Bench(model, pairs, shapes, args.dry_run, args.limit)
    device = "CPU (dry run)" if args.dry_run else torch.cuda.get_device_name()
    print(device, "torch", torch.__version__, flush=True)
    report = Report(args.out / "gpu_check.json", device, args.budget)
    (sb, sc), (lb, lc) = shapes.small, shapes.large
    gpu_only = "needs a GPU" if args.dry_run else None
    for batch in shapes.plain:
        report.run(f"plain-{batch}", lambda b=batch: bench.steps(b, 0))
    report.run(f"plain-bf16w-{sb}", lambda: bench.steps(sb, 0, bf16_weights=True))
    for batch, chunk in (shapes.small, shapes.large):
        report.run(f"cached-{batch}", lambda b=batch, c=chunk: bench.steps(b, c))
        report.run(f"packed-{batch}", lambda b=batch, c=chunk: bench.steps(b, c, packed=True))
        report.run(
            f"packed-bf16w-{batch}",
            lambda b=batch, c=chunk: bench.steps(b, c, packed=True, bf16_weights=True),
        )
    report.run(f"st-cached-{sb}", lambda: bench.sentence_transformers(sb, sc))
    report.run(f"profile-packed-{sb}", lambda: bench.profile(sb, sc))
    report.run(f"profile-packed-bf16w-{sb}", lambda: bench.profile(sb, sc, bf16_weights=True))
    report.run("trainer-packed", lambda: bench.trainer(work / "run", {}))
    report.run(
        "trainer-packed-bf16w",
        lambda: bench.trainer(work / "run-w", {"precision": "bf16-weights"}),
        skip=gpu_only,  # a CPU may lack bf16: the step rows above run its code
    )
    report.run(
        f"fused-packed-{sb}", lambda: bench.steps(sb, sc, packed=True, fused=True), skip=gpu_only
    )
    report.run(
        f"compiled-packed-{sb}",
        lambda: bench.steps(sb, sc, packed=True, compiled=True),
        skip=gpu_only,
    )
    report.run(f"st-cached-{lb}", lambda: bench.sentence_transformers(lb, lc))
    report.run(
        "trainer-packed-compiled",
        lambda: bench.trainer(work / "run-c", {"compile": True}),
        skip=gpu_only,
    )
    summarise(report.body["rows"], shapes)


def summarise(rows: dict, shapes: Shapes) -> None:
    """The table, and each target against what was measured."""
    print("\n| row | batch | chunk | s/step | pairs/s | peak GB | MFU |")
    print("|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        if "pairs_per_s" not in r:
            print(f"| {name} | {r.get('skipped') or r.get('error', '')[:60]} |||||")
            continue
        mfu = f"{100 * r['mfu']:.1f}%" if r.get("mfu") else "-"
        peak = f"{r['peak_gb']:.2f}" if r.get("peak_gb") is not None else "-"
        seconds = f"{r['seconds']:.3f}" if "seconds" in r else f"{r['wall_s']:.0f} (wall)"
        print(
            f"| {name} | {r['batch']} | {r['chunk']} | {seconds} | {r['pairs_per_s']:.0f} | "
            f"{peak} | {mfu} |"
        )
    (sb, _), (lb, _) = shapes.small, shapes.large

    def ratio(a: str, b: str, key: str) -> str:
        top, bottom = rows.get(a, {}).get(key), rows.get(b, {}).get(key)
        return f"{top / bottom:.2f}x" if top and bottom else "not measured"

    def fastest(batch: int) -> str:  # the quickest cached variant measured at `batch`
        names = [f"{kind}-{batch}" for kind in ("packed-bf16w", "packed", "cached")]
        timed = [n for n in names if rows.get(n, {}).get("seconds")]
        return min(timed, key=lambda n: rows[n]["seconds"]) if timed else names[-1]

    small, large = fastest(sb), fastest(lb)
    mfu = rows.get(large, {}).get("mfu")
    print(
        f"\nMFU at {lb} ({large}): {f'{100 * mfu:.1f}%' if mfu else 'not measured'} "
        f"(target >= 40%); {small} / plain at {sb} (same precision): "
        f"{ratio(small, f'plain-bf16w-{sb}' if 'bf16w' in small else f'plain-{sb}', 'seconds')} "
        "(<= 1.3x); "
        f"peak {lb} / {shapes.plain[0]}: "
        f"{ratio(large, f'plain-{shapes.plain[0]}', 'peak_gb')} (<= 1.5x); "
        f"pairs/s against sentence-transformers at {sb}: "
        f"{ratio(small, f'st-cached-{sb}', 'pairs_per_s')} (> 1x)"
    )


if __name__ == "__main__":
    main()
