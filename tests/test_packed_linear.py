"""Packed bf16 linears: the same function as nn.Linear (to bf16's rounding), only where oneDNN
has a bf16 path, and an Embedder that packs gives the vectors one that does not. On a CPU
without that path (AVX2 only) nothing is packed and bf16 still works, plain.

The tests of the real packed path skip, with the reason, on a CPU that cannot take it; the
fallback is shown on every CPU by describing an AVX2-only one to the probe."""

import numpy as np
import pytest
import torch
from torch import nn

import cpt_core.model.bf16
from cpt_core.model.bf16 import cpu_bf16_level, native_bf16, onednn_bf16
from cpt_core.model.embedder import Embedder
from cpt_core.model.packed_linear import PackedLinear, pack_linears

needs_onednn_bf16 = pytest.mark.skipif(
    not (torch.backends.mkldnn.is_available() and onednn_bf16("cpu")),
    reason="this CPU has no oneDNN bf16 path (AVX512 BW+VL+DQ or AVX-NE-CONVERT), so cpt "
    "never packs there; the fallback is tested on a described AVX2-only CPU",
)

# CPUs as torch.cpu.get_capabilities() describes them (only the keys that matter here).
AVX2_EPYC: dict[str, bool] = {"avx2": True}
SKYLAKE_SP = {
    "avx2": True,
    "avx512_f": True,
    "avx512_bw": True,
    "avx512_vl": True,
    "avx512_dq": True,
}
COOPER_LAKE = {**SKYLAKE_SP, "avx512_bf16": True}
SAPPHIRE_RAPIDS = {**COOPER_LAKE, "amx_tile": True, "amx_bf16": True}
ARROW_LAKE = {"avx2": True, "avx_vnni": True, "avx_ne_convert": True}
GRAVITON3 = {"neon": True, "bf16": True}


@pytest.mark.parametrize(
    "cpu, level",
    [
        (AVX2_EPYC, "emulated"),
        ({**SKYLAKE_SP, "avx512_dq": False}, "emulated"),  # oneDNN needs all three
        (SKYLAKE_SP, "onednn"),
        (ARROW_LAKE, "onednn"),
        (GRAVITON3, "onednn"),
        (COOPER_LAKE, "native"),
        (SAPPHIRE_RAPIDS, "native"),
    ],
)
def test_each_cpu_gets_its_bf16_level(cpu, level):
    assert cpu_bf16_level(cpu) == level


@pytest.mark.parametrize(
    "cpu", [AVX2_EPYC, SKYLAKE_SP, ARROW_LAKE, GRAVITON3, COOPER_LAKE, SAPPHIRE_RAPIDS]
)
def test_the_precision_default_and_packing_agree_on_every_cpu(cpu, monkeypatch):
    """bf16 by default only where it is fast, and there packing is possible too."""
    monkeypatch.setattr(cpt_core.model.bf16, "_capabilities", lambda: cpu)
    assert native_bf16("cpu") == (cpu in (COOPER_LAKE, SAPPHIRE_RAPIDS))
    assert onednn_bf16("cpu") == (cpu is not AVX2_EPYC)
    assert native_bf16("cuda") and not onednn_bf16("cuda")


def test_this_cpu_is_probed_with_torchs_own_check():
    """The probe reads the CPU PyTorch sees: an x86 CPU with AVX-512 BW+VL+DQ is not `emulated`."""
    capabilities = torch.cpu.get_capabilities()
    x86_bf16_path = all(capabilities.get(f"avx512_{n}") for n in ("bw", "vl", "dq"))
    assert cpu_bf16_level() == cpu_bf16_level(dict(capabilities))
    assert not x86_bf16_path or cpu_bf16_level() != "emulated"


@needs_onednn_bf16
@pytest.mark.parametrize("bias", [True, False])
def test_a_packed_linear_computes_what_the_plain_one_does(bias):
    torch.manual_seed(0)
    plain = nn.Linear(64, 48, bias=bias).to(torch.bfloat16)
    x = torch.randn(3, 7, 64, dtype=torch.bfloat16)  # batch x tokens x features, as in a model
    with torch.inference_mode():
        expected, got = plain(x).float(), PackedLinear(plain)(x).float()
    assert got.shape == (3, 7, 48)
    torch.testing.assert_close(got, expected, atol=0.05, rtol=0.02)


@needs_onednn_bf16
def test_only_bf16_linears_on_a_cpu_are_packed():
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Sequential(nn.Linear(8, 4)))
    assert pack_linears(model) == 0  # float32: packing gains nothing there
    model.to(torch.bfloat16)
    assert pack_linears(model) == 2
    assert isinstance(model[0], PackedLinear) and isinstance(model[2][0], PackedLinear)
    assert pack_linears(model) == 0  # nothing left to pack


@needs_onednn_bf16
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


def test_a_cpu_without_onednn_bf16_keeps_bf16_layers_plain(tiny_model, monkeypatch):
    """The fallback: nothing packed, and a bf16 Embedder gives exactly the unpacked vectors."""
    monkeypatch.setattr(cpt_core.model.bf16, "_capabilities", lambda: AVX2_EPYC)
    model = nn.Sequential(nn.Linear(8, 8)).to(torch.bfloat16)
    assert pack_linears(model) == 0 and type(model[0]) is nn.Linear
    texts = ["a", "a much longer text than the others here", "b c d"]
    asked = Embedder.from_pretrained(tiny_model, dtype="bfloat16", device="cpu")
    plain = Embedder.from_pretrained(tiny_model, dtype="bfloat16", device="cpu", pack=False)
    assert not any(isinstance(m, PackedLinear) for m in asked.encoder.modules())
    np.testing.assert_array_equal(asked.encode(texts, "query"), plain.encode(texts, "query"))


def test_bf16_works_when_asked_on_this_cpu(tiny_model):
    """Whatever this CPU is, bf16 asked for embeds, packed or not, to bf16's noise of float32."""
    texts = ["a", "a much longer text than the others here", "mid length text"]
    bf16 = Embedder.from_pretrained(tiny_model, dtype="bfloat16", device="cpu")
    fp32 = Embedder.from_pretrained(tiny_model, dtype="float32", device="cpu")
    assert bf16.encoder.backbone.get_input_embeddings().weight.dtype == torch.bfloat16
    cosines = np.sum(bf16.encode(texts, "document") * fp32.encode(texts, "document"), axis=1)
    np.testing.assert_allclose(cosines, 1.0, atol=2e-2)
