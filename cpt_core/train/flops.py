"""Model FLOPs utilisation (MFU): the share of the device's peak that a step's model arithmetic
uses, so a run on any accelerator says how far it is from the hardware.

FLOPs are counted as PaLM counts them (Chowdhery et al., 2022, appendix B): per token, 6 per
non-embedding parameter (forward and backward) plus 12 x layers x attention width x sequence
length for attention. The gradient cache's extra forward is recomputation, not model FLOPs:
it lowers MFU, which is the honest price of its memory saving.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import PreTrainedModel

# Dense bf16 peaks (no sparsity), FLOP/s, by the name CUDA reports.
PEAK_BF16 = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "L4": 121e12}


@dataclass(frozen=True)
class FlopCounter:
    parameters: int  # non-embedding: an embedding lookup is not a matmul
    layers: int
    attention_width: int

    @classmethod
    def of(cls, backbone: PreTrainedModel) -> FlopCounter:
        config = backbone.config
        embedding = backbone.get_input_embeddings().weight.numel()
        total = sum(p.numel() for p in backbone.parameters())
        heads = config.num_attention_heads
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
        return cls(total - embedding, config.num_hidden_layers, heads * head_dim)

    def training(self, lengths: list[int]) -> float:
        """Forward and backward FLOPs for sequences of these lengths."""
        linear = 6 * self.parameters * sum(lengths)
        attention = 12 * self.layers * self.attention_width * sum(n * n for n in lengths)
        return float(linear + attention)


def peak_flops(device: torch.device, bf16: bool) -> float | None:
    """The device's dense bf16 peak where it is known and used; None (no MFU) elsewhere."""
    if device.type != "cuda" or not bf16:
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_BF16.items() if k in name), None)
