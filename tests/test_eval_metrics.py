"""Metrics and protocols of the evaluation suite, each against values worked out by hand."""

import numpy as np
import pytest

from cpt_core.data.beir import BeirSet
from cpt_core.eval.classify import knn_accuracy, zero_shot_accuracy
from cpt_core.eval.probe import probe_accuracy
from cpt_core.eval.retrievers import BM25Retriever
from cpt_core.eval.search import codesearchnet, evaluate_search, sample_search
from cpt_core.eval.senteval import ProbeTask, Split
from cpt_core.eval.sts import spearman


def _unit(rows):
    rows = np.asarray(rows, dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_spearman_of_cosines():
    first = _unit([[1, 0], [1, 0], [1, 0], [1, 0]])
    second = _unit([[1, 0], [1, 1], [0, 1], [-1, 1]])  # cosines 1, .71, 0, -.71
    assert spearman(first, second, np.array([5.0, 4.0, 1.0, 0.0])) == pytest.approx(100.0)
    assert spearman(first, second, np.array([0.0, 1.0, 4.0, 5.0])) == pytest.approx(-100.0)
    # ranks of cosines 4,3,2,1 vs gold ranks 3,4,1,2: d^2 = 1+1+1+1 -> 1 - 6*4/60 = 0.6
    assert spearman(first, second, np.array([3.0, 4.0, 1.0, 2.0])) == pytest.approx(60.0)


def test_zero_shot_picks_the_nearest_label():
    labels = _unit([[1, 0], [0, 1]])
    inputs = _unit([[2, 1], [1, 3], [1, 2], [3, -1]])
    assert zero_shot_accuracy(inputs, np.array([0, 1, 1, 0]), labels) == 100.0
    assert zero_shot_accuracy(inputs, np.array([0, 1, 0, 0]), labels) == 75.0


def test_knn_majority_and_tie_break():
    train = _unit([[1, 0], [1, 0.1], [0, 1], [0.1, 1]])
    labels = np.array([0, 0, 1, 1])
    test = _unit([[1, 0.05], [0.05, 1]])
    assert knn_accuracy(train, labels, test, np.array([0, 1]), k=3) == 100.0
    # k=4: two votes each; the tie goes to the closer pair of neighbours
    assert knn_accuracy(train, labels, test, np.array([0, 1]), k=4) == 100.0
    assert knn_accuracy(train, labels, test, np.array([1, 0]), k=4) == 0.0


def test_probe_separable_and_random_features():
    rng = np.random.default_rng(0)
    texts = [f"s{i}" for i in range(80)]
    labels = np.array([0, 1] * 40)
    separable = {
        t: np.array([2.0 * y - 1, *rng.normal(size=3)]) for t, y in zip(texts, labels, strict=True)
    }
    noise = {t: rng.normal(size=4) for t in texts}
    pooled = ProbeTask("MR", Split(texts, labels))
    assert probe_accuracy(pooled, separable, folds=4) == 100.0
    assert probe_accuracy(pooled, noise, folds=4) < 75.0
    held_out = ProbeTask(
        "TREC", Split(texts[:60], labels[:60]), test=Split(texts[60:], labels[60:])
    )
    assert probe_accuracy(held_out, separable, folds=3) == 100.0
    pairs = [(f"a{i}", f"b{i}") for i in range(40)]
    same = np.array([i % 2 for i in range(40)])
    vectors = {}
    for (a, b), y in zip(pairs, same, strict=True):
        base = rng.normal(size=4)
        vectors[a], vectors[b] = base, base if y else -base  # |u - v| is 0 exactly when paraphrase
    mrpc = ProbeTask("MRPC", Split(pairs[:30], same[:30]), test=Split(pairs[30:], same[30:]))
    assert probe_accuracy(mrpc, vectors, folds=3) == 100.0


def _toy_search() -> BeirSet:
    corpus = {
        "d1": "photosynthesis converts light energy into chemical energy in plants",
        "d2": "the stock market fell sharply after the interest rate decision",
        "d3": "vaccines train the immune system to recognise a pathogen",
        "d4": "glaciers retreat as global temperatures rise",
    }
    queries = {"q1": "how do plants turn light into energy", "q2": "immune system vaccine"}
    return BeirSet(corpus, queries, {"q1": {"d1": 1}, "q2": {"d3": 2, "d4": 1}})


def test_evaluate_search_with_bm25():
    result = evaluate_search(BM25Retriever(), _toy_search())
    assert result["mrr@10"] == 100.0 and result["queries"] == 2 and result["documents"] == 4
    # q2 ranks d3 first; d4 shares no term, so it is ranked after the matching documents
    assert result["recall"]["1"] == pytest.approx(75.0)  # q1: 1/1, q2: 1/2
    assert result["recall"]["100"] == 100.0


def test_sample_search_keeps_relevant_documents():
    data = _toy_search()
    small = sample_search(data, queries=1, documents=2, seed=0)
    (qid,) = small.qrels
    assert set(small.qrels[qid]) <= set(small.corpus) and len(small.corpus) == 2
    assert sample_search(data, None, None, seed=0).corpus == data.corpus


def test_codesearchnet_groups():
    words = ["alpha", "beta", "gamma", "delta", "omega", "sigma", "kappa", "theta", "zeta", "iota"]
    pairs = [(f"compute {w}", f"def {w}(x): return compute({w!r})") for w in words]
    result = codesearchnet(BM25Retriever(), pairs, candidates=4, max_groups=None, seed=0)
    assert (result["groups"], result["candidates"], result["queries"]) == (2, 4, 8)
    assert result["mrr"] == 100.0
    assert codesearchnet(BM25Retriever(), pairs, 1000, None, 0)["candidates"] == 10
    assert codesearchnet(BM25Retriever(), pairs, 4, 1, 0)["queries"] == 4
