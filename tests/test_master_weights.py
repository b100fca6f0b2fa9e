"""bf16 weights with float32 masters: the same training where nothing is rounded, the masters
keeping what bf16 cannot, and gradients summed in float32 (train/master_weights.py)."""

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from cpt_core.loss.contrastive import LogitScale
from cpt_core.loss.grad_cache import contrastive_step
from cpt_core.train.master_weights import MasterWeights
from cpt_core.train.trainer import train
from tests.test_grad_cache import batch_of, encoder_from
from tests.test_trainer import tiny_config


def _train(encoder, stepped, scale, batch, steps: int, after_step=lambda: None) -> list[float]:
    """`steps` AdamW steps of the gradient-cache step on `batch`, stepping `stepped`."""
    params = [*stepped.parameters(), *scale.parameters()]
    optimizer = torch.optim.AdamW(params, lr=1e-3)
    prepared = batch.prepare(encoder.tokenizer, chunk_size=3)
    losses = []
    for _ in range(steps):
        losses.append(contrastive_step(encoder, scale, prepared).loss.item())
        optimizer.step()
        after_step()
        optimizer.zero_grad(set_to_none=True)
    return losses


def test_masters_train_exactly_as_the_weights_themselves_where_nothing_is_rounded(tiny_model):
    """Live weights in the masters' own dtype: every step, loss and weight is bit for bit the
    plain run's, so the hooks, the twin and `push` lose and add nothing."""
    plain, scale = encoder_from(tiny_model, torch.float32), LogitScale()
    batch = batch_of(plain, 8, negatives=True)
    want = _train(plain, plain.backbone, scale, batch, 3)
    mastered, scale_m = encoder_from(tiny_model, torch.float32), LogitScale()
    master = MasterWeights(mastered.backbone, torch.float32)
    assert _train(mastered, master.twin, scale_m, batch, 3, master.push) == want
    assert want[0] != want[-1]
    for (name, want), got in zip(
        plain.backbone.named_parameters(), master.twin.parameters(), strict=True
    ):
        assert torch.equal(got, want), name
    for want, got in zip(plain.backbone.parameters(), mastered.backbone.parameters(), strict=True):
        assert torch.equal(got, want)


def test_bf16_weights_sum_gradients_in_float32_close_to_float32_training(tiny_model):
    reference, scale = encoder_from(tiny_model, torch.float32), LogitScale()
    batch = batch_of(reference, 8, negatives=True)
    prepared = batch.prepare(reference.tokenizer, chunk_size=3)
    want_loss = contrastive_step(reference, scale, prepared).loss.item()

    encoder = encoder_from(tiny_model, torch.float32)
    master = MasterWeights(encoder.backbone)
    assert {p.dtype for p in encoder.backbone.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in master.twin.parameters()} == {torch.float32}
    got_loss = contrastive_step(encoder, LogitScale(), prepared).loss.item()
    assert got_loss == pytest.approx(want_loss, rel=2e-2)
    assert all(p.grad is None for p in encoder.backbone.parameters())  # moved, not kept twice
    for (name, want), got in zip(
        reference.backbone.named_parameters(), master.twin.parameters(), strict=True
    ):
        assert got.grad.dtype == torch.float32
        cosine = torch.nn.functional.cosine_similarity(got.grad.flatten(), want.grad.flatten(), 0)
        assert cosine > 0.98, f"{name}: cosine {cosine:.4f} to the float32 gradient"


def test_masters_keep_updates_too_small_for_bf16(tiny_model):
    """1,000 updates of 1e-5 each: bf16 weights stepped in place round every one away, while
    masters add them up to 1% and the live copy follows."""
    encoder = encoder_from(tiny_model, torch.float32)
    master = MasterWeights(encoder.backbone)
    weight = master.twin.get_input_embeddings().weight
    live = encoder.backbone.get_input_embeddings().weight
    before = live.detach().clone()
    alone = before.clone()  # bf16 weights without masters
    with torch.no_grad():
        for _ in range(1000):
            alone.mul_(1 + 1e-5)  # far below bf16's 2^-8 relative spacing
            weight.mul_(1 + 1e-5)
    master.push()
    assert torch.equal(alone, before)
    moved = (live.float() - before.float()).norm() / before.float().norm()
    assert moved.item() == pytest.approx(0.01, rel=0.05)


def test_a_bf16_weights_run_resumes_exactly_and_saves_float32(
    tiny_model, pairs_dir, tmp_path, monkeypatch
):
    import cpt_core.train.precision

    # bf16 is emulated (slowly, exactly) where the CPU lacks it: a tiny model runs it anyway
    monkeypatch.setattr(cpt_core.train.precision, "native_bf16", lambda device: True)
    config = tiny_config(tiny_model, precision="bf16-weights")
    straight = train(config, pairs_dir, tmp_path / "a", progress=False)
    assert train(config, pairs_dir, tmp_path / "b", progress=False, stop_after=5) is None
    resumed = train(config, pairs_dir, tmp_path / "b", resume=True, progress=False)
    a, b = load_file(straight / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].dtype == np.float32, name
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    initial = load_file(tiny_model / "model.safetensors")["model.embed_tokens.weight"]
    assert not np.array_equal(a["embed_tokens.weight"], initial)
