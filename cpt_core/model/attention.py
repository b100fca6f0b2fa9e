"""Which attention kernel a training run uses, by device.

On a CPU, PyTorch's SDPA backward is slow. Measured on SmolLM2-135M, 32 sequences, 2 cores,
bf16 autocast: the backward took 2.8-3.8 s with SDPA against 1.5-1.8 s with eager attention
(matmul, softmax, matmul) at 64 tokens, and 7.6 s against 3.9-4.9 s at 128, forwards about equal.
In fp32 the two are even, on that CPU and on an AVX2-only one (0.81-1.13x between runs; bench/
cpu_attention.py, BENCHMARKS.md). So training on any CPU runs eager attention, while GPUs keep
SDPA (flash or memory-efficient kernels, as the mask allows) and inference keeps SDPA everywhere.
"""

from __future__ import annotations

import torch
from transformers import PreTrainedModel


def use_training_attention(backbone: PreTrainedModel, device: torch.device) -> None:
    if device.type == "cpu" and backbone.config._attn_implementation == "sdpa":
        backbone.set_attn_implementation("eager")
