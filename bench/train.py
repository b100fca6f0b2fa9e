"""Benchmark one contrastive step: plain vs gradient cache vs sentence-transformers.

For each batch size, the same model, sequence length and data go through (a) cpt's plain
full-batch step, (b) cpt's gradient-cache step, padded and (c) packed (`data.pack`), and (d)
sentence-transformers' CachedMultipleNegativesRankingLoss in its symmetric form (the same loss)
with the same mini-batch.
A step here is forward + backward (the optimiser update is identical for all three and left
out). Every measurement runs in a fresh subprocess. "peak" is the most memory the steps add
above the loaded model and data, the warm-up step included (a fresh process's first step grows
the allocator); "steady" is what the timed steps add above the memory left after warm-up.
Memory is the resident set on CPU (peak reset through /proc/self/clear_refs) and the
allocator's peak on CUDA. Data: SciFact (title, abstract) pairs, real text of varied length;
or CoSQA (query, code), with `--data cosqa`.

    python bench/train.py                                  # CPU sweep, small random Llama
    python bench/train.py --arch full --batches 64         # the real SmolLM2-135M
    python bench/train.py --arch full --seq 128 --batches 64,256,1024,4096  # on a GPU
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import torch
from st_cached import st_cached_step

from cpt_core.cpus import usable_cpus
from cpt_core.data.beir import read_beir
from cpt_core.loss.contrastive import LogitScale
from cpt_core.loss.grad_cache import PairBatch, contrastive_step
from cpt_core.model.delimiters import DelimitedTokenizer, Delimiters
from cpt_core.model.encoder import Encoder
from cpt_core.paths import shared_data
from cpt_core.pretrained.fetch import fetch
from cpt_core.pretrained.load import load_backbone

H100_BF16_PEAK = 989e12  # dense TFLOP/s, for model FLOPs utilisation


def pairs(n: int, data: str) -> tuple[list[str], list[str]]:
    """n real pairs (repeated if the set is smaller): SciFact (title, abstract) text, or CoSQA
    (web query, Python function) code, whose lengths vary far more."""
    if data == "cosqa":
        rows = []
        for split in ("dev", "test"):
            path = shared_data("code", "cosqa", f"cosqa-retrieval-{split}-500.json")
            rows += json.loads(path.read_text())
        queries, docs = [r["doc"] for r in rows], [r["code"] for r in rows]
    else:
        corpus = sorted(read_beir(shared_data("beir", "scifact"), "test").corpus.values())
        queries = [d.split(". ", 1)[0] for d in corpus]
        docs = [d.split(". ", 1)[-1] for d in corpus]
    reps = -(-n // len(docs))
    return (queries * reps)[:n], (docs * reps)[:n]


def small_model(folder: Path) -> Path:
    """SmolLM2's architecture and tokenizer, shrunk (random init): fast enough for CPU sweeps."""
    from transformers import AutoConfig, AutoTokenizer, LlamaForCausalLM

    base = fetch("smollm2-135m")
    config = AutoConfig.from_pretrained(base)
    config.update({"num_hidden_layers": 4, "hidden_size": 192, "intermediate_size": 512})
    config.update({"num_attention_heads": 3, "num_key_value_heads": 1, "head_dim": 64})
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(base).save_pretrained(folder)
    return folder


def measure(
    method: str, model: str, batch: int, chunk: int, seq: int, steps: int, data: str
) -> dict:
    """One (method, batch) in this process: median step time, peak memory above baseline."""
    torch.manual_seed(0)
    cuda = torch.cuda.is_available()
    dtype = torch.bfloat16 if cuda else torch.float32
    queries, documents = pairs(batch, data)
    run, n_params, tokens = _builder(method)(model, queries, documents, chunk, seq, dtype)
    baseline = _reset_peak(cuda)
    run()  # warm-up: first-touch allocations and one-off set-up are not the steady state
    first_peak = _peak(cuda) - baseline
    steady_base = _reset_peak(cuda)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        run()
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    steady_peak = _peak(cuda) - steady_base
    flops = 6 * n_params * tokens * (1 if method == "plain" else 4 / 3)
    return {
        "method": method,
        "batch": batch,
        "chunk": chunk if method != "plain" else batch,
        "seconds": seconds,
        "pairs_per_s": batch / seconds,
        "tokens_per_s": tokens / seconds,
        "peak_mb": max(first_peak, steady_peak + steady_base - baseline) / 2**20,
        "steady_mb": steady_peak / 2**20,
        "mfu": flops / seconds / H100_BF16_PEAK if cuda else None,
    }


def _reset_peak(cuda: bool) -> int:
    """Restart the peak counter; return current memory, the base the next peak is taken over."""
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        return torch.cuda.memory_allocated()
    Path("/proc/self/clear_refs").write_text("5")  # Linux: restart the VmHWM counter
    return psutil.Process().memory_info().rss


def _peak(cuda: bool) -> int:
    """Peak memory since the last reset: the allocator's on CUDA, resident set (VmHWM) on CPU."""
    if cuda:
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated()
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _builder(method: str):
    if method == "st-cached":
        return _sentence_transformers
    return functools.partial(_cpt, packed=method == "packed")


def _cpt(model, queries, documents, chunk, seq, dtype, packed=False):
    backbone, tokenizer = load_backbone(model, dtype=dtype)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    encoder = Encoder(backbone.to(device), DelimitedTokenizer(tokenizer, Delimiters(), seq))
    scale = LogitScale().to(device)
    batch = PairBatch(
        encoder.tokenizer.encode(queries, "query"), encoder.tokenizer.encode(documents, "document")
    )
    n_params = sum(p.numel() for p in backbone.parameters())
    prepared = batch.prepare(encoder.tokenizer, chunk, packed=packed)

    def run():
        contrastive_step(encoder, scale, prepared)
        backbone.zero_grad(set_to_none=True)

    return run, n_params, batch.tokens


def _sentence_transformers(model, queries, documents, chunk, seq, dtype):
    device = "cuda" if torch.cuda.is_available() else "cpu"
    return st_cached_step(model, queries, documents, chunk, seq, dtype, device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=["small", "full"], default="small")
    parser.add_argument("--model", default="smollm2-135m", help="with --arch full")
    parser.add_argument("--seq", type=int, default=32)
    parser.add_argument("--batches", default="64,256,1024,4096")
    parser.add_argument("--chunk", type=int, default=32)
    parser.add_argument("--plain-max", type=int, default=1024, help="largest plain batch to try")
    parser.add_argument("--steps", type=int, default=3, help="timed steps after one warm-up")
    parser.add_argument("--data", choices=["scifact", "cosqa"], default="scifact")
    parser.add_argument("--worker", nargs=2, metavar=("METHOD", "BATCH"), help=argparse.SUPPRESS)
    parser.add_argument("--model-path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(usable_cpus())
    if args.worker:
        method, batch = args.worker
        print(
            json.dumps(
                measure(
                    method, args.model_path, int(batch), args.chunk, args.seq, args.steps, args.data
                )
            )
        )
        return

    with tempfile.TemporaryDirectory() as tmp:
        model = (
            str(small_model(Path(tmp) / "small"))
            if args.arch == "small"
            else str(fetch(args.model))
        )
        rows = []
        for batch in [int(b) for b in args.batches.split(",")]:
            methods = ["plain"] if batch <= args.plain_max else []
            for method in [*methods, "cached", "packed", "st-cached"]:
                cmd = [
                    sys.executable,
                    __file__,
                    "--worker",
                    method,
                    str(batch),
                    "--model-path",
                    model,
                ]
                cmd += [
                    "--seq",
                    str(args.seq),
                    "--chunk",
                    str(args.chunk),
                    "--steps",
                    str(args.steps),
                ]
                done = subprocess.run(cmd, capture_output=True, text=True)
                if done.returncode != 0:
                    print(done.stderr[-2000:], file=sys.stderr)
                    raise SystemExit(f"{method} at batch {batch} failed")
                rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
                print(
                    f"  measured {method:<9} batch {batch:>5}: {rows[-1]['seconds']:.2f} s",
                    flush=True,
                )
    print_table(rows, args)


def print_table(rows: list[dict], args) -> None:
    cuda = torch.cuda.is_available()
    device = torch.cuda.get_device_name() if cuda else f"CPU x{usable_cpus()}"
    print(
        f"\n{device}; {args.data}; arch {args.arch}; seq {args.seq}; chunk {args.chunk}; ", end=""
    )
    print(f"median of {args.steps} steps\n")
    by = {(r["method"], r["batch"]): r for r in rows}
    smallest = min(r["batch"] for r in rows)
    columns = ["method", "batch", "s/step", "pairs/s", "peak MB", "steady MB", "vs plain (time)"]
    columns += ["vs st-cached (pairs/s)", f"peak vs batch {smallest}"]
    columns += [f"steady vs batch {smallest}"] + (["MFU"] if cuda else [])
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for r in rows:
        plain = by.get(("plain", r["batch"]))
        st = by.get(("st-cached", r["batch"]))
        first = by[(r["method"], smallest)]
        cells = [
            r["method"],
            str(r["batch"]),
            f"{r['seconds']:.2f}",
            f"{r['pairs_per_s']:.1f}",
            f"{r['peak_mb']:.0f}",
            f"{r['steady_mb']:.0f}",
            f"{r['seconds'] / plain['seconds']:.2f}x" if plain else "-",
            f"{r['pairs_per_s'] / st['pairs_per_s']:.2f}x" if st else "-",
            f"{r['peak_mb'] / first['peak_mb']:.2f}x",
            f"{r['steady_mb'] / first['steady_mb']:.2f}x",
        ]
        if r["mfu"] is not None:
            cells.append(f"{100 * r['mfu']:.0f}%")
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
