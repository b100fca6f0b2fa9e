"""Token-budget batches: every text once, longest first, under the budget and the count cap, and
the vectors the same whatever the batches."""

import numpy as np

from cpt_core.model.embedder import Embedder
from cpt_core.model.token_batches import token_batches


def test_batches_stay_under_the_budget_and_the_count():
    lengths = [5, 40, 12, 12, 3, 90, 7, 7, 7, 7, 7, 7]
    batches = token_batches(lengths, max_tokens=40, max_count=4)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    assert batches[0] == [5]  # 90 tokens: over the budget, alone
    for batch in batches:
        assert len(batch) <= 4
        assert lengths[batch[0]] == max(lengths[i] for i in batch)
        assert len(batch) == 1 or lengths[batch[0]] * len(batch) <= 40
    flat = [lengths[i] for batch in batches for i in batch]
    assert flat == sorted(lengths, reverse=True)
    assert [len(b) for b in batches] == [1, 1, 3, 4, 3]  # 90 | 40 | 12,12,7 | 7x4 | 7,5,3


def test_ties_keep_the_input_order():
    assert token_batches([3, 3, 3], max_tokens=100) == [[0, 1, 2]]
    assert token_batches([], max_tokens=10) == []


def test_vectors_do_not_depend_on_the_batches(tiny_model):
    embedder = Embedder.from_pretrained(tiny_model, dtype="float32", device="cpu")
    texts = ["a", "a much longer text than the others here", "mid length text", "b", "c d"]
    one_by_one = np.stack([embedder.encode([t], "document")[0] for t in texts])
    for budget in (8, 30, 10_000):
        batched = embedder.encode(texts, "document", max_batch_tokens=budget)
        np.testing.assert_allclose(batched, one_by_one, atol=1e-5)
