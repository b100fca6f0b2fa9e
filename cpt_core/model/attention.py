"""SDPA attention for training, with its core in float32 on CPUs under bf16 autocast.

PyTorch's CPU flash-attention backward is far slower in bf16 than in fp32: profiled on
SmolLM2-135M, 32 x 64 tokens, 2 cores, 30 ms against 5 ms per layer, which ate most of what bf16
gains on the projections and the MLP (the bulk of the FLOPs). So on a CPU the attention core
runs in fp32 while everything around it stays in bf16; on CUDA, and in fp32 runs, it is plain
SDPA (flash or memory-efficient kernels as the mask allows).
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import AttentionInterface, PreTrainedModel
from transformers.integrations.sdpa_attention import sdpa_attention_forward

NAME = "cpt_sdpa"


def _attention(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    **kwargs: object,
) -> tuple[torch.Tensor, None]:
    if query.device.type != "cpu" or query.dtype != torch.bfloat16:
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
    output, weights = sdpa_attention_forward(
        module, query.float(), key.float(), value.float(), attention_mask, **kwargs
    )
    return output.to(torch.bfloat16), weights


AttentionInterface.register(NAME, _attention)


def use_training_attention(backbone: PreTrainedModel) -> None:
    """Switch a model that runs SDPA to cpt's; models on other kernels keep theirs."""
    if backbone.config._attn_implementation == "sdpa":
        backbone.set_attn_implementation(NAME)
