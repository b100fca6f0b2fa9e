import math

import numpy as np
import pytest
from sklearn.metrics import ndcg_score

from cpt_core.eval.ranking import mrr_at_k, ndcg_at_k, rank, recall_at_k

RANKED = [["a", "b", "c", "d"], ["x", "y", "z", "w"], ["p", "q", "r", "s"]]
RELEVANT = [{"b"}, {"w", "x"}, {"none"}]


def test_mrr():
    assert mrr_at_k(RANKED, RELEVANT, k=10) == pytest.approx((1 / 2 + 1 / 1 + 0) / 3)
    assert mrr_at_k(RANKED, RELEVANT, k=1) == pytest.approx(1 / 3)


def test_recall():
    assert recall_at_k(RANKED, RELEVANT, k=1) == pytest.approx((0 + 1 / 2 + 0) / 3)
    assert recall_at_k(RANKED, RELEVANT, k=4) == pytest.approx((1 + 1 + 0) / 3)


def test_ndcg_by_hand_and_against_sklearn():
    graded = [{"b": 1}, {"w": 2, "x": 1}, {"none": 1}]
    q2 = (1 / math.log2(2) + 2 / math.log2(5)) / (2 / math.log2(2) + 1 / math.log2(3))
    want = (1 / math.log2(3) + q2 + 0) / 3
    assert ndcg_at_k(RANKED, graded, k=10) == pytest.approx(want)
    # sklearn on the second query, scores decreasing in rank order
    truth = np.array([[1, 0, 0, 2]])
    scores = np.array([[4, 3, 2, 1]])
    assert ndcg_at_k([RANKED[1]], [graded[1]], k=10) == pytest.approx(ndcg_score(truth, scores))


def test_rank_breaks_ties_by_document_order():
    q = np.array([[1.0, 0.0]])
    d = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0], [0.5, 0.5]])
    assert rank(q, d, k=3).tolist() == [[1, 2, 3]]
