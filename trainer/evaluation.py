"""Classification metrics on held-out data, in plain numpy: accuracy, ROC AUC, log loss, F1.

Pure functions, so the trainer's report and the champion/challenger gate compute exactly the same numbers, and
so each one is testable against a hand-computed example. Conventions shared by every function:

- ``y`` holds class *indices* (``0..k-1``, in the contract's class order), shape ``(n,)``;
- ``probs`` is ``(n,)`` for a binary model (the probability of class 1, as :class:`driftline.scoring.Scorer`
  returns it; ``(n, 1)`` and ``(n, 2)`` are accepted too) or ``(n, k)`` for a multiclass one;
- a binary prediction is class 1 when its probability is ``>= 0.5`` (as ``ModelBundle.labels_of``), a
  multiclass prediction is the argmax.

A metric that is undefined on the data (AUC when only one class is present) is ``nan``; callers that write
JSON turn it into ``null``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["LOG_LOSS_EPS", "accuracy", "confusion_matrix", "evaluate", "f1", "log_loss", "predicted", "roc_auc"]

#: Probabilities are clipped to [eps, 1 - eps] before the log: float32 sigmoids reach exactly 0 and 1.
LOG_LOSS_EPS = 1e-7


def _check(y: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate shapes; binary scores become a 1-D positive-class probability."""
    y = np.asarray(y)
    p = np.asarray(probs, dtype=np.float64)
    if y.ndim != 1:
        raise ValueError(f"labels must be 1-D class indices, found shape {y.shape}")
    if p.ndim == 2 and p.shape[1] in (1, 2) and p.shape[0] == y.shape[0]:
        p = p[:, -1]
    if p.shape[0] != y.shape[0] or p.ndim not in (1, 2):
        raise ValueError(f"expected probabilities for {y.shape[0]} rows, found shape {p.shape}")
    if y.size == 0:
        raise ValueError("cannot evaluate on an empty set")
    if not np.isfinite(p).all():
        raise ValueError("probabilities must be finite")
    y = y.astype(np.int64, copy=False)
    k = 2 if p.ndim == 1 else p.shape[1]
    if y.min() < 0 or y.max() >= k:
        raise ValueError(f"labels must be class indices in 0..{k - 1}, found {int(y.min())}..{int(y.max())}")
    return y, p


def predicted(probs: np.ndarray) -> np.ndarray:
    """Predicted class indices: ``p >= 0.5`` for binary scores, argmax for multiclass."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim == 2 and p.shape[1] in (1, 2):
        p = p[:, -1]
    return (p >= 0.5).astype(np.int64) if p.ndim == 1 else p.argmax(axis=1).astype(np.int64)


def accuracy(y: np.ndarray, probs: np.ndarray) -> float:
    """Share of rows whose predicted class is the true one."""
    y, p = _check(y, probs)
    return float(np.mean(predicted(p) == y))


def _ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of ``x``, tied values sharing the mean of their positions."""
    order = np.argsort(x, kind="mergesort")
    _, inverse, counts = np.unique(x[order], return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    mean_rank = ends - (counts - 1) / 2.0
    ranks = np.empty(x.size, dtype=np.float64)
    ranks[order] = mean_rank[inverse]
    return ranks


def _binary_auc(positive: np.ndarray, score: np.ndarray) -> float:
    """Mann-Whitney AUC: P(score of a positive > score of a negative), ties counting one half."""
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    rank_sum = float(_ranks(score)[positive].sum())
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def roc_auc(y: np.ndarray, probs: np.ndarray) -> float:
    """ROC AUC from ranks (ties handled); multiclass: macro average of one-vs-rest AUCs over the classes
    that are present with both positives and negatives. ``nan`` when no class qualifies."""
    y, p = _check(y, probs)
    if p.ndim == 1:
        return _binary_auc(y == 1, p)
    aucs = [_binary_auc(y == c, p[:, c]) for c in range(p.shape[1])]
    defined = [a for a in aucs if not np.isnan(a)]
    return float(np.mean(defined)) if defined else float("nan")


def log_loss(y: np.ndarray, probs: np.ndarray, eps: float = LOG_LOSS_EPS) -> float:
    """Mean negative log-likelihood of the true class, probabilities clipped to ``[eps, 1 - eps]``
    (multiclass rows are not renormalised: softmax outputs already sum to 1)."""
    y, p = _check(y, probs)
    p = np.clip(p, eps, 1.0 - eps)
    if p.ndim == 1:
        return float(-np.mean(np.where(y == 1, np.log(p), np.log1p(-p))))
    return float(-np.mean(np.log(p[np.arange(y.size), y])))


def confusion_matrix(y: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """``(k, k)`` counts: row = true class, column = predicted class."""
    y, p = _check(y, probs)
    k = 2 if p.ndim == 1 else p.shape[1]
    return np.bincount(y * k + predicted(p), minlength=k * k).reshape(k, k)


def _f1_of(cm: np.ndarray, c: int) -> float:
    tp = cm[c, c]
    fp = cm[:, c].sum() - tp
    fn = cm[c, :].sum() - tp
    denominator = 2 * tp + fp + fn
    return float(2 * tp / denominator) if denominator else 0.0


def f1(y: np.ndarray, probs: np.ndarray) -> float:
    """Binary: F1 of the positive class (index 1). Multiclass: macro F1 over the classes present in the true
    or the predicted labels. An F1 with no true and no predicted positives is 0."""
    y, p = _check(y, probs)
    cm = confusion_matrix(y, p)
    if p.ndim == 1:
        return _f1_of(cm, 1)
    present = np.flatnonzero(cm.sum(axis=0) + cm.sum(axis=1))
    return float(np.mean([_f1_of(cm, int(c)) for c in present]))


def evaluate(y: np.ndarray, probs: np.ndarray) -> dict[str, float | int | list[list[int]]]:
    """Every metric at once, as metrics.json holds them (``rows`` and the confusion matrix included)."""
    y, p = _check(y, probs)
    return {
        "accuracy": accuracy(y, p),
        "roc_auc": roc_auc(y, p),
        "log_loss": log_loss(y, p),
        "f1": f1(y, p),
        "rows": int(y.size),
        "confusion_matrix": confusion_matrix(y, p).tolist(),
    }
