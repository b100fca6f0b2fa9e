"""SentEval's linear probe with scikit-learn's logistic regression.

The protocol is SentEval's: the four pooled sets are scored by k-fold cross-validation with
the regularisation C chosen by inner k-fold on each outer training part; SST-2 chooses C on its
dev set; TREC and MRPC choose it by k-fold on train, then fit all of train and score test.
MRPC's features are SentEval's [|u - v|, u * v]. One departure, stated: features are
standardised on each training part, because unit-norm embeddings of different models live on
very different scales and the same C grid would otherwise regularise them unequally.

The grid searches are scikit-learn's (GridSearchCV inside cross_val_score): the same folds, the
same C (the first best in grid order) and the same scores as the loops they replace, with the
fits spread over every core.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline, make_pipeline
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
    return float(np.mean(cross_val_score(_search(folds), x, y, cv=outer, n_jobs=-1)))


def _choose_c(x: np.ndarray, y: np.ndarray, folds: int) -> float:
    return _search(folds, n_jobs=-1).fit(x, y).best_params_["logisticregression__C"]


def _search(folds: int, n_jobs: int | None = None) -> GridSearchCV:
    """C chosen by inner k-fold on whatever training part it is given."""
    inner = StratifiedKFold(n_splits=folds, shuffle=True, random_state=SEED)
    grid = {"logisticregression__C": list(GRID)}
    return GridSearchCV(_model(GRID[0]), grid, cv=inner, n_jobs=n_jobs)


def _model(c: float) -> Pipeline:
    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=1000))


def _fit(x: np.ndarray, y: np.ndarray, c: float) -> Pipeline:
    return _model(c).fit(x, y)


def _features(task: ProbeTask, split: Split, vectors: dict[str, np.ndarray]) -> np.ndarray:
    if not task.pairs:
        return np.stack([vectors[text] for text in split.inputs])
    u = np.stack([vectors[a] for a, _ in split.inputs])
    v = np.stack([vectors[b] for _, b in split.inputs])
    return np.hstack([np.abs(u - v), u * v])
