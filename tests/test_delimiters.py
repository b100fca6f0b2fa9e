"""The pooled position is the closing delimiter: any padding side, truncated or not, and
for the tokenizers of every offline model."""

import pytest
import torch
from transformers import AutoTokenizer

from cpt_core.model.delimiters import DelimitedTokenizer, Delimiters
from cpt_core.model.encoder import Encoder
from cpt_core.pretrained.load import load_backbone

TEXTS = [
    "Short.",
    "A sentence that ends in punctuation right before the bracket.",
    "x" * 3 + " and a much longer text " * 40,  # truncated at any sensible max_length
    "trailing brace}",
]


def check_pooling(tokenizer, padding_side: str, max_length: int = 32) -> None:
    wrapped = DelimitedTokenizer(tokenizer, Delimiters(), max_length, padding_side)
    for side in ("query", "document"):
        closing = wrapped.wrap[side][1]
        sequences = wrapped.encode(TEXTS, side)
        batch = wrapped.collate(sequences)
        for row, seq in enumerate(sequences):
            assert len(seq) <= max_length
            assert seq[-len(closing) :] == closing  # truncation never cuts the delimiter
            assert seq[
                len(wrapped.prefix) : len(wrapped.prefix) + len(wrapped.wrap[side][0])
            ] == list(wrapped.wrap[side][0])
            index = int(batch.pool_index[row])
            assert batch.input_ids[row, index].item() == closing[-1]
            assert batch.attention_mask[row, index].item() == 1
            pooled_text = tokenizer.decode(
                batch.input_ids[row, index - len(closing) + 1 : index + 1]
            )
            assert pooled_text.strip() == getattr(Delimiters(), side)[1]
        assert any(len(s) == max_length for s in sequences)  # the long text was truncated


@pytest.mark.parametrize("padding_side", ["left", "right"])
def test_tiny_tokenizer(tiny_model, padding_side):
    check_pooling(AutoTokenizer.from_pretrained(tiny_model), padding_side)


@pytest.mark.parametrize("padding_side", ["left", "right"])
def test_smollm2_tokenizer_keeps_bracket_separate(smollm2, padding_side):
    tokenizer = AutoTokenizer.from_pretrained(smollm2)
    assert tokenizer.tokenize("end.]")[-1] == ".]"  # the merge this module exists to avoid
    check_pooling(tokenizer, padding_side)


@pytest.mark.gguf_tokenizers
@pytest.mark.parametrize("name", ["gemma3-270m", "qwen2.5-coder-0.5b"])
@pytest.mark.parametrize("padding_side", ["left", "right"])
def test_other_offline_tokenizers(name, padding_side):
    from cpt_core.pretrained.fetch import fetch

    tokenizer = AutoTokenizer.from_pretrained(fetch(name))
    check_pooling(tokenizer, padding_side)
    if name == "gemma3-270m":  # Gemma expects BOS in front; it must survive wrapping
        assert DelimitedTokenizer(tokenizer, Delimiters(), 16).prefix == [tokenizer.bos_token_id]


def test_left_and_right_padding_embed_identically(tiny_model):
    backbone, tokenizer = load_backbone(tiny_model, dtype=torch.float64)
    out = {}
    for side in ("left", "right"):
        encoder = Encoder(backbone, DelimitedTokenizer(tokenizer, Delimiters(), 32, side)).eval()
        batch = encoder.tokenizer.collate(encoder.tokenizer.encode(TEXTS, "query"))
        out[side] = encoder(batch)
    torch.testing.assert_close(out["left"], out["right"], rtol=1e-9, atol=1e-9)
    norms = out["left"].norm(dim=1)
    torch.testing.assert_close(norms, torch.ones_like(norms))


def test_sides_differ(tiny_model):
    backbone, tokenizer = load_backbone(tiny_model, dtype=torch.float64)
    encoder = Encoder(backbone, DelimitedTokenizer(tokenizer, Delimiters(), 32)).eval()
    q = encoder(encoder.tokenizer.collate(encoder.tokenizer.encode(["same text"], "query")))
    d = encoder(encoder.tokenizer.collate(encoder.tokenizer.encode(["same text"], "document")))
    assert not torch.allclose(q, d)


def test_max_length_too_small_is_refused(tiny_model):
    from cpt_core.errors import CptError

    with pytest.raises(CptError, match="no room"):
        DelimitedTokenizer(AutoTokenizer.from_pretrained(tiny_model), Delimiters(), 2)
