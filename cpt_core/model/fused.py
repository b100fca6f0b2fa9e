"""Fused GPU kernels for RMSNorm, rotary embeddings and SwiGLU, where the compiler does not reach.

A profile of the plain training step on an H200 found the matmuls at a fifth of the kernel time
and unfused elementwise work filling most of the rest: RMSNorm, rotary embeddings and SwiGLU,
each in several kernels. Liger-Kernel's Triton kernels replace those modules in place, for the
architectures it knows (Llama and SmolLM2, Qwen2, Gemma 3). It is an optional CUDA extra
(`pip install liger-kernel`), never needed on a CPU, where Triton does not run.
"""

from __future__ import annotations

import torch
from transformers import PreTrainedModel

from cpt_core.errors import CptError


def use_fused_kernels(backbone: PreTrainedModel, device: torch.device) -> None:
    if device.type != "cuda":
        raise CptError("model.fused_kernels needs a CUDA GPU (Triton kernels): leave it off here")
    try:
        from liger_kernel.transformers import _apply_liger_kernel_to_instance
    except ImportError as exc:
        raise CptError(f"model.fused_kernels needs `pip install liger-kernel` ({exc})") from None
    kind = backbone.config.model_type
    _apply_liger_kernel_to_instance(
        model=backbone,
        rope=True,
        rms_norm=True,
        swiglu=True,
        cross_entropy=False,  # cpt's loss is over embeddings, not tokens
        fused_linear_cross_entropy=False,
    )
    if not any(m._get_name().startswith("Liger") for m in backbone.modules()):  # patched names
        raise CptError(
            f"Liger-Kernel has no fused kernels for {kind} models: leave fused_kernels off"
        )
