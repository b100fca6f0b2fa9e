"""Cutting texts by characters before tokenizing keeps every token the model would see, with
the real tokenizers cpt serves (SmolLM2's byte-level BPE, MiniLM's WordPiece), and bounds what a
huge input costs."""

import pytest
from transformers import AutoTokenizer

from cpt_core.data.beir import read_beir
from cpt_core.model.char_cut import cut_texts, longest_token_chars
from cpt_core.model.delimiters import DelimitedTokenizer, Delimiters
from cpt_core.model.encoders import load_encoder
from cpt_core.paths import shared_data
from cpt_core.pretrained.fetch import fetch


@pytest.fixture(scope="module")
def long_texts() -> list[str]:
    """Real abstracts run together into texts of 1-60 kB, and inputs a client might abuse."""
    corpus = list(read_beir(shared_data("beir", "scifact"), "test").corpus.values())
    joined = [" ".join(corpus[i : i + n]) for i, n in ((0, 1), (5, 8), (40, 60))]
    shapes = ["x" * 50_000, "word " * 20_000, "é" * 30_000, "\n\n".join(corpus[:30]) + " " * 9000]
    return joined + shapes


@pytest.mark.parametrize("max_length", [32, 128, 512])
def test_a_decoder_sees_the_same_ids_with_the_cut(smollm2, long_texts, max_length):
    tokenizer = DelimitedTokenizer(AutoTokenizer.from_pretrained(smollm2), Delimiters(), max_length)
    uncut = tokenizer.tokenizer(long_texts, add_special_tokens=False)["input_ids"]
    for side in ("query", "document"):
        expected = [tokenizer.wrap_ids(ids, side) for ids in uncut]
        assert tokenizer.encode(long_texts, side) == expected


def test_a_sentence_encoder_sees_the_same_ids_with_the_cut(long_texts):
    encoder = load_encoder("all-minilm-l6-v2", max_length=256, dtype="float32")
    uncut = encoder.tokenizer([t.strip().lower() for t in long_texts], add_special_tokens=False)[
        "input_ids"
    ]
    assert encoder.tokenize(long_texts, "document") == [
        encoder.wrap(ids, "document") for ids in uncut
    ]


def test_a_huge_input_reaches_the_tokenizer_cut(smollm2):
    tokenizer = AutoTokenizer.from_pretrained(smollm2)
    longest = longest_token_chars(tokenizer)
    assert 1 < longest < 1000
    (cut,) = cut_texts(["z" * (15 << 20)], tokenizer, 512)
    assert len(cut) == (512 + 16) * longest  # what one 15 MiB string costs now
    word_limit = longest_token_chars(AutoTokenizer.from_pretrained(fetch("all-minilm-l6-v2")))
    assert word_limit >= 100  # WordPiece reads words of up to 100 characters before [UNK]
