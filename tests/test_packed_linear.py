"""Packed bf16 linears: the same function as nn.Linear (to bf16's rounding), only where they
can run, and an Embedder that packs gives the vectors one that does not."""

import numpy as np
import pytest
import torch
from torch import nn

from cpt_core.model.embedder import Embedder
from cpt_core.model.packed_linear import PackedLinear, pack_linears

needs_onednn = pytest.mark.skipif(
    not torch.backends.mkldnn.is_available(), reason="PyTorch built without oneDNN"
)


@needs_onednn
@pytest.mark.parametrize("bias", [True, False])
def test_a_packed_linear_computes_what_the_plain_one_does(bias):
    torch.manual_seed(0)
    plain = nn.Linear(64, 48, bias=bias).to(torch.bfloat16)
    x = torch.randn(3, 7, 64, dtype=torch.bfloat16)  # batch x tokens x features, as in a model
    with torch.inference_mode():
        expected, got = plain(x).float(), PackedLinear(plain)(x).float()
    assert got.shape == (3, 7, 48)
    torch.testing.assert_close(got, expected, atol=0.05, rtol=0.02)


@needs_onednn
def test_only_bf16_linears_on_a_cpu_are_packed():
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Sequential(nn.Linear(8, 4)))
    assert pack_linears(model) == 0  # float32: packing gains nothing there
    model.to(torch.bfloat16)
    assert pack_linears(model) == 2
    assert isinstance(model[0], PackedLinear) and isinstance(model[2][0], PackedLinear)
    assert pack_linears(model) == 0  # nothing left to pack


@needs_onednn
def test_a_packed_embedder_gives_the_plain_ones_vectors(tiny_model):
    texts = ["a", "a much longer text than the others here", "mid length text", "b c d"]
    load = dict(dtype="bfloat16", device="cpu")
    packed = Embedder.from_pretrained(tiny_model, **load)
    plain = Embedder.from_pretrained(tiny_model, pack=False, **load)
    assert any(isinstance(m, PackedLinear) for m in packed.encoder.modules())
    assert not any(isinstance(m, PackedLinear) for m in plain.encoder.modules())
    for side in ("query", "document"):
        cosines = np.sum(packed.encode(texts, side) * plain.encode(texts, side), axis=1)
        np.testing.assert_allclose(cosines, 1.0, atol=2e-3)
