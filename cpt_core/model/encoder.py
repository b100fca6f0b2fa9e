"""Encoder E: a decoder-only transformer read out at the closing delimiter.

A causal model's last position is the only one that has seen the whole input, which is why
cpt pools there; the distinct delimiters per side let one network embed queries and documents
differently. Embeddings are L2-normalised, so dot products are cosines.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import PreTrainedModel

from cpt_core.model.attention_mask import ready_mask
from cpt_core.model.delimiters import Batch, DelimitedTokenizer


class Encoder(nn.Module):
    def __init__(self, backbone: PreTrainedModel, tokenizer: DelimitedTokenizer):
        super().__init__()
        self.backbone = backbone
        self.tokenizer = tokenizer

    @property
    def dim(self) -> int:
        return int(self.backbone.config.hidden_size)

    def forward(self, batch: Batch) -> torch.Tensor:
        device = next(self.backbone.parameters()).device
        ids, mask, positions, rows, pool = (
            t.to(device, non_blocking=True)
            for t in (
                batch.input_ids,
                batch.attention_mask,
                batch.position_ids,
                batch.pool_row,
                batch.pool_index,
            )
        )
        # packed rows: the restarting positions tell the model where each sequence begins
        attention = None if batch.packed else mask
        if self.training:  # the same mask, ready, so that no forward waits for the device
            implementation = self.backbone.config._attn_implementation
            dtype = self.backbone.get_input_embeddings().weight.dtype
            ready = ready_mask(mask, positions, implementation, dtype)
            attention = attention if ready is None else ready
        hidden = self.backbone(
            input_ids=ids, attention_mask=attention, position_ids=positions, use_cache=False
        ).last_hidden_state
        pooled = hidden[rows, pool]
        # float32 at least (bf16 cosines are too coarse for the loss), float64 kept for tests
        return nn.functional.normalize(
            pooled.to(torch.promote_types(pooled.dtype, torch.float32)), dim=-1
        )
