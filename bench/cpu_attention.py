"""Why training on a CPU runs eager attention and bf16: forward and backward of the real
SmolLM2-135M per attention kernel and precision, on this machine.

32 sequences of 64 (or `--length`) tokens, every other one padded by a third, as a training
chunk is. For each (precision, kernel): one warm-up pass, then the best of `--repeat` timed
forward and backward passes; ratios against fp32 SDPA, the PyTorch default. bf16 rows run
only where this CPU computes bf16 natively (`native_bf16`): elsewhere it is emulated, far slower,
and never chosen by a run (`--bf16` times it anyway).

    python bench/cpu_attention.py
    python bench/cpu_attention.py --length 128
"""

from __future__ import annotations

import argparse
import time
from contextlib import nullcontext

import torch

from cpt_core.model.bf16 import cpu_bf16_level, native_bf16
from cpt_core.pretrained.fetch import fetch
from cpt_core.pretrained.load import load_backbone


def passes(backbone, ids, mask, kernel: str, bf16: bool) -> tuple[float, float]:
    backbone.set_attn_implementation(kernel)
    with torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext():
        start = time.perf_counter()
        hidden = backbone(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state
        forward = time.perf_counter() - start
    start = time.perf_counter()
    hidden[:, -1].float().sum().backward()
    backward = time.perf_counter() - start
    backbone.zero_grad(set_to_none=True)
    return forward, backward


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--length", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--bf16", action="store_true", help="bf16 rows even where emulated")
    args = parser.parse_args()
    precisions = (False, True) if args.bf16 or native_bf16("cpu") else (False,)
    backbone, _ = load_backbone(fetch("smollm2-135m"))
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(100, 40_000, (32, args.length), generator=generator)
    mask = torch.ones_like(ids)
    mask[::2, args.length * 2 // 3 :] = 0
    rows = []
    for bf16 in precisions:
        for kernel in ("sdpa", "eager"):
            passes(backbone, ids, mask, kernel, bf16)
            timed = [passes(backbone, ids, mask, kernel, bf16) for _ in range(args.repeat)]
            forward, backward = (min(t[i] for t in timed) for i in (0, 1))
            rows.append(("bf16" if bf16 else "fp32", kernel, forward, backward))
    base = rows[0][2] + rows[0][3]
    print(
        f"SmolLM2-135M, 32 x {args.length} tokens, {torch.get_num_threads()} threads, "
        f"{torch.cpu.get_capabilities()['cpu_name']}, bf16 {cpu_bf16_level()}"
    )
    print("| precision | attention | forward s | backward s | step s | vs fp32 sdpa |")
    print("|---|---|---|---|---|---|")
    for precision, kernel, forward, backward in rows:
        step = forward + backward
        times = f"{forward:.2f} | {backward:.2f} | {step:.2f}"
        print(f"| {precision} | {kernel} | {times} | {base / step:.2f}x |")


if __name__ == "__main__":
    main()
