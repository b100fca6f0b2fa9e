"""The real SmolLM2-135M: a few training steps on real SciFact pairs lower the loss."""

import pytest
import torch

from cpt_core.data.beir import beir_pairs
from cpt_core.data.reader import Pair
from cpt_core.loss.grad_cache import contrastive_step
from cpt_core.paths import shared_data
from cpt_core.train.config import load_config
from cpt_core.train.feed import tokenize
from cpt_core.train.setup import build_encoder, build_optimizer, build_scale


def held_out_loss(encoder, scale, pairs):
    encoder.eval()
    with torch.no_grad():
        batch = tokenize(encoder.tokenizer, pairs)
        q = encoder(encoder.tokenizer.collate(batch.queries))
        d = encoder(encoder.tokenizer.collate(batch.documents))
        from cpt_core.loss.contrastive import contrastive_loss

        loss = contrastive_loss(q, d, scale()).loss.item()
    encoder.train()
    return loss


@pytest.mark.slow
def test_training_steps_lower_the_loss(smollm2):
    rows = list(beir_pairs(shared_data("beir", "scifact"), "train", "train"))
    unique = {r["x"]: r for r in rows}  # one pair per claim: no false negatives
    pairs = [Pair(r["x"], r["y"]) for r in list(unique.values())[:40]]
    train_pairs, held_out = pairs[:32], pairs[32:40]
    config = load_config(
        None,
        **{"model.max_length": 48, "optim.lr": 1e-4, "optim.warmup_steps": 0, "optim.max_steps": 4},
    )
    torch.manual_seed(0)
    encoder = build_encoder(config.model, torch.device("cpu"))
    scale = build_scale(config.loss, torch.device("cpu"))
    optimizer, scheduler = build_optimizer(encoder.backbone, scale, config.optim)
    before = held_out_loss(encoder, scale, held_out)
    for step in range(4):
        batch = tokenize(encoder.tokenizer, train_pairs[step * 8 : (step + 1) * 8])
        contrastive_step(encoder, scale, batch.prepare(encoder.tokenizer, chunk_size=4))
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
    after = held_out_loss(encoder, scale, held_out)
    assert after < before - 0.1, (before, after)
