"""A training step never makes the host wait for the device (model/attention_mask.py).

Every read of a device tensor into Python (`.item()`, `if t.all()`) and every op whose output
size depends on values (`nonzero`, boolean indexing) reaches ATen as one of the ops below; a
dispatch mode sees them on a CPU as they would run on a GPU, where each is a host sync."""

import traceback

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from cpt_core.dist.shard import clip_gradients
from cpt_core.loss.contrastive import LogitScale
from cpt_core.loss.grad_cache import contrastive_step
from cpt_core.train.master_weights import MasterWeights
from tests.test_grad_cache import batch_of, encoder_from

SYNCING = {
    "aten::_local_scalar_dense",
    "aten::nonzero",
    "aten::masked_select",
    "aten::_unique2",
    "aten::unique_consecutive",
}


class HostSyncs(TorchDispatchMode):
    """Records the syncing ops run inside it, with where they were called from."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func._schema.name in SYNCING:
            caller = "".join(traceback.format_stack()[-6:-1])
            self.seen.append(f"{func._schema.name} from\n{caller}")
        return func(*args, **(kwargs or {}))


def test_the_detector_sees_a_sync():
    with HostSyncs() as syncs:
        if torch.ones(3).all():
            pass
    assert len(syncs.seen) == 1


@pytest.mark.parametrize("attention", ["eager", "sdpa"])
@pytest.mark.parametrize("packed", [False, True])
@pytest.mark.parametrize("chunk", [0, 3])
@pytest.mark.parametrize("bf16_weights", [False, True])
def test_a_training_step_never_waits_for_the_device(
    tiny_model, attention, packed, chunk, bf16_weights
):
    encoder = encoder_from(tiny_model, torch.float32).train()
    encoder.backbone.set_attn_implementation(attention)
    master = MasterWeights(encoder.backbone) if bf16_weights else None
    stepped = master.twin if master else encoder.backbone
    scale = LogitScale()
    prepared = batch_of(encoder, 8, negatives=True).prepare(encoder.tokenizer, chunk, packed=packed)
    with HostSyncs() as syncs:
        contrastive_step(encoder, scale, prepared)
        clip_gradients([list(stepped.parameters()), list(scale.parameters())], 1.0)
        if master:
            master.push()
    assert not syncs.seen, syncs.seen[0]
