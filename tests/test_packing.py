"""Packed rows (model/packing.py): several sequences per row, each attending only to itself."""

import pytest
import torch

from cpt_core.loss.contrastive import LogitScale
from cpt_core.loss.grad_cache import PairBatch, contrastive_step
from cpt_core.model.packing import fill_rows, pack
from cpt_core.train.master_weights import MasterWeights
from tests.test_grad_cache import batch_of, encoder_from, gradients

TEXTS = ["a b c", "a much longer text than the others here", "x", "d e f g", "the same text"]


def test_rows_hold_several_sequences_and_pool_each_at_its_close():
    sequences = [[1, 2, 3], [4, 5, 6, 7, 8, 9], [10], [11, 12, 13, 14]]
    batch = pack(sequences, width=8, pad_id=0)
    assert batch.input_ids.shape == (2, 8) and batch.packed
    for number, sequence in enumerate(sequences):
        row, end = int(batch.pool_row[number]), int(batch.pool_index[number])
        start = end - len(sequence) + 1
        assert batch.input_ids[row, start : end + 1].tolist() == sequence
        assert batch.position_ids[row, start : end + 1].tolist() == list(range(len(sequence)))
    assert batch.tokens == 14
    with pytest.raises(ValueError, match="9 tokens does not fit a row of 8"):
        pack([[1] * 9], width=8, pad_id=0)


@pytest.mark.parametrize("attention", ["eager", "sdpa"])
def test_a_packed_sequence_embeds_as_it_does_alone(tiny_model, attention):
    """Attention stays within each sequence: a leak from a row's earlier sequences would move
    the later ones' embeddings far beyond float64 noise."""
    encoder = encoder_from(tiny_model)
    encoder.backbone.set_attn_implementation(attention)
    sequences = encoder.tokenizer.encode(TEXTS, "query")
    packed = pack(sequences, encoder.tokenizer.max_length, encoder.tokenizer.pad_id)
    assert packed.input_ids.shape[0] < len(sequences)  # some rows hold several
    with torch.no_grad():
        together = encoder(packed)
        alone = encoder(encoder.tokenizer.collate(sequences))
    torch.testing.assert_close(together, alone, rtol=0, atol=1e-10)


@pytest.mark.parametrize("negatives", [False, True])
def test_packed_steps_give_the_padded_loss_and_gradients_in_fp32(tiny_model, negatives):
    """Plain, cached, and both packed: the same loss and gradients to 1e-5 in fp32 on a CPU."""
    encoder = encoder_from(tiny_model, dtype=torch.float32)
    encoder.backbone.set_attn_implementation("eager")  # what training on a CPU runs
    scale = LogitScale()
    batch = batch_of(encoder, 12, negatives)
    loss_plain, plain = gradients(encoder, scale, batch, chunk=0)
    for chunk in (0, 3):
        prepared = batch.prepare(encoder.tokenizer, chunk, packed=True)
        if chunk:  # every chunk is `chunk` rows of max_length, holding what fits
            shapes = {tuple(c.batch.input_ids.shape) for side in prepared.sides for c in side}
            assert shapes == {(chunk, encoder.tokenizer.max_length)}
            padded = batch.prepare(encoder.tokenizer, chunk)
            assert sum(map(len, prepared.sides)) <= sum(map(len, padded.sides))
        loss, packed = gradients(encoder, scale, batch, chunk, packed=True)
        assert loss == pytest.approx(loss_plain, rel=1e-5)
        for name, grad in plain.items():
            err = (packed[name] - grad).norm() / grad.norm().clamp(min=1e-30)
            assert err < 1e-5, f"{name} chunk {chunk}: relative error {err:.2e}"


def test_rows_fill_longest_first_and_chunks_close_when_full():
    assert fill_rows([5, 3, 2, 6], width=8) == [[[3, 2], [0, 1]]]
    assert fill_rows([5, 3, 2, 6, 8, 1], width=8, rows=2) == [[[4], [3]], [[0, 1], [2, 5]]]


def _varied(encoder, step: int) -> PairBatch:
    """12 pairs whose lengths differ from step to step, as real batches' do."""
    words = [" ".join(["word"] * ((3 * i + step) % 9 + 1)) for i in range(12)]
    encode = encoder.tokenizer.encode
    return PairBatch(
        encode([f"q{i} {w}" for i, w in enumerate(words)], "query"),
        encode([f"d{i} {w} {w}" for i, w in enumerate(words)], "document"),
    )


@pytest.mark.parametrize("bf16_weights", [False, True])
def test_a_compiled_model_compiles_once_for_packed_chunks(tiny_model, bf16_weights):
    """Every packed chunk has one shape, so after the first step (a graph for the no-grad
    pass, one for the grad pass) later steps with other lengths never recompile; padded
    chunks, one width each, would. bf16 weights' master update between steps does not either."""
    import torch._dynamo

    torch._dynamo.reset()
    encoder = encoder_from(tiny_model, dtype=torch.float32).train()
    encoder.backbone.set_attn_implementation("eager")
    master = MasterWeights(encoder.backbone) if bf16_weights else None
    encoder.backbone.compile(dynamic=False, backend="aot_eager")  # dynamo's guards, no C++
    scale = LogitScale()
    step = _varied(encoder, 0).prepare(encoder.tokenizer, 3, packed=True)
    contrastive_step(encoder, scale, step)
    with torch._dynamo.config.patch(error_on_recompile=True):
        for number in (1, 2, 4):
            later = _varied(encoder, number).prepare(encoder.tokenizer, 3, packed=True)
            contrastive_step(encoder, scale, later)
            if master:
                master.push()
    torch._dynamo.reset()
