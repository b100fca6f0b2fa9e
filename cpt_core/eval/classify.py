"""Classification without a trained classifier: zero-shot by label embeddings, and k-NN.

Zero-shot embeds each input (document side) and each label's description (query side: the
label asks for matching inputs) and predicts the nearest label; the paper's SST-2 prompts are
'this is an example of a positive/negative movie review.'. k-NN predicts the majority label of
the k most similar training inputs (the paper used k = 256); a tied vote goes to the label
whose tied neighbours are more similar in total.
"""

from __future__ import annotations

import numpy as np

SST2_LABEL_TEXTS = ("negative", "positive")
SST2_LABEL_PROMPTS = tuple(
    f"this is an example of a {label} movie review." for label in SST2_LABEL_TEXTS
)


def zero_shot_accuracy(inputs: np.ndarray, labels: np.ndarray, label_vectors: np.ndarray) -> float:
    predicted = np.argmax(inputs @ label_vectors.T, axis=1)
    return float(100 * np.mean(predicted == labels))


def knn_accuracy(
    train: np.ndarray, train_labels: np.ndarray, test: np.ndarray, test_labels: np.ndarray, k: int
) -> float:
    k = min(k, len(train))
    classes = np.unique(train_labels)
    predicted = []
    for start in range(0, len(test), 256):  # bounded memory: 256 x |train| scores at a time
        scores = test[start : start + 256] @ train.T
        nearest = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        labels, similarity = train_labels[nearest], np.take_along_axis(scores, nearest, 1)
        votes = np.stack([(labels == c).sum(1) for c in classes], 1)
        mass = np.stack([np.where(labels == c, similarity, 0).sum(1) for c in classes], 1)
        # votes first; the similarity mass (in [-k, k]) only separates equal votes
        predicted.append(classes[np.argmax(votes + (mass + k) / (2 * k + 1), axis=1)])
    return float(100 * np.mean(np.concatenate(predicted) == test_labels))
