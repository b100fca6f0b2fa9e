"""SentEval's linear probe with scikit-learn's logistic regression.

The protocol is SentEval's: the four pooled sets are scored by k-fold cross-validation with
the regularisation C chosen by inner k-fold on each outer training part; SST-2 chooses C on its
dev set; TREC and MRPC choose it by k-fold on train, then fit all of train and score test.
MRPC's features are SentEval's [|u - v|, u * v]. One departure, stated: features are
standardised on each training part, because unit-norm embeddings of different models live on
very different scales and the same C grid would otherwise regularise them unequally.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from cpt_core.eval.senteval import ProbeTask, Split

GRID = tuple(2.0**t for t in range(-2, 4))  # SentEval's C grid for logistic regression
SEED = 1111  # SentEval's seed


def probe_accuracy(task: ProbeTask, vectors: dict[str, np.ndarray], folds: int = 10) -> float:
    """Test accuracy x 100. `vectors` maps each sentence of the task to its embedding."""
    x_train, y_train = _features(task, task.train, vectors), task.train.labels
    if task.test is None:
        return 100 * _cross_validated(x_train, y_train, folds)
    x_test = _features(task, task.test, vectors)
    if task.dev is not None:
        x_dev = _features(task, task.dev, vectors)
        c = max(GRID, key=lambda c: _fit(x_train, y_train, c).score(x_dev, task.dev.labels))
    else:
        c = _choose_c(x_train, y_train, folds)
    return 100 * _fit(x_train, y_train, c).score(x_test, task.test.labels)


def _cross_validated(x: np.ndarray, y: np.ndarray, folds: int) -> float:
    outer = StratifiedKFold(n_splits=folds, shuffle=True, random_state=SEED)
    scores = []
    for train, test in outer.split(x, y):
        c = _choose_c(x[train], y[train], folds)
        scores.append(_fit(x[train], y[train], c).score(x[test], y[test]))
    return float(np.mean(scores))


def _choose_c(x: np.ndarray, y: np.ndarray, folds: int) -> float:
    inner = list(StratifiedKFold(n_splits=folds, shuffle=True, random_state=SEED).split(x, y))

    def score(c: float) -> float:
        return float(np.mean([_fit(x[a], y[a], c).score(x[b], y[b]) for a, b in inner]))

    return max(GRID, key=score)


def _fit(x: np.ndarray, y: np.ndarray, c: float):
    model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=1000))
    return model.fit(x, y)


def _features(task: ProbeTask, split: Split, vectors: dict[str, np.ndarray]) -> np.ndarray:
    if not task.pairs:
        return np.stack([vectors[text] for text in split.inputs])
    u = np.stack([vectors[a] for a, _ in split.inputs])
    v = np.stack([vectors[b] for _, b in split.inputs])
    return np.hstack([np.abs(u - v), u * v])
