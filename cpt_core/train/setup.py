"""Building the pieces a training run needs: encoder, logit scale, optimiser and schedule."""

from __future__ import annotations

import torch
from torch import nn

from cpt_core.loss.contrastive import LogitScale
from cpt_core.model.attention import use_training_attention
from cpt_core.model.delimiters import DelimitedTokenizer
from cpt_core.model.encoder import Encoder
from cpt_core.model.fused import use_fused_kernels
from cpt_core.pretrained.load import load_backbone
from cpt_core.train.config import LossConfig, ModelConfig, OptimConfig
from cpt_core.train.schedule import WarmupCosine


def build_encoder(config: ModelConfig, device: torch.device) -> Encoder:
    backbone, tokenizer = load_backbone(config.name)
    use_training_attention(backbone, device)
    if config.fused_kernels:
        use_fused_kernels(backbone, device)
    if config.gradient_checkpointing:
        backbone.gradient_checkpointing_enable({"use_reentrant": False})
    wrapped = DelimitedTokenizer(
        tokenizer, config.delimiters, config.max_length, config.padding_side
    )
    return Encoder(backbone.to(device), wrapped)


def build_scale(config: LossConfig, device: torch.device) -> LogitScale:
    return LogitScale(config.init_scale, config.max_scale, config.learn_scale).to(device)


def build_optimizer(
    weights: nn.Module, scale: LogitScale, config: OptimConfig, fused: bool = False
) -> tuple[torch.optim.AdamW, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW over `weights` (the backbone, or its float32 masters) without decay on norms and
    biases; tau gets its own (higher) learning rate. `fused` (CUDA) updates every parameter in
    one kernel instead of a few per tensor.

    Schedule: linear warm-up, then cosine decay to `min_lr_ratio` of the peak (schedule.py).
    """
    named = [(n, p) for n, p in weights.named_parameters() if p.requires_grad]
    groups = [
        {"params": [p for _, p in named if p.ndim >= 2], "weight_decay": config.weight_decay},
        {"params": [p for _, p in named if p.ndim < 2], "weight_decay": 0.0},
        {"params": list(scale.parameters()), "weight_decay": 0.0, "lr": config.scale_lr},
    ]
    optimizer = torch.optim.AdamW(groups, lr=config.lr, betas=config.betas, fused=fused or None)

    schedule = WarmupCosine(config.warmup_steps, config.max_steps, config.min_lr_ratio)
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)


def trainable(*modules: nn.Module) -> list[nn.Parameter]:
    return [p for m in modules for p in m.parameters() if p.requires_grad]
