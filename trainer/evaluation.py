"""Classification metrics on held-out data, in plain numpy: accuracy, ROC AUC, log loss, F1, per class, ROC curves.

Pure functions, so the trainer's report and the champion/challenger gate compute exactly the same numbers, and
so each one is testable against a hand-computed example. Conventions shared by every function:

- ``y`` holds class *indices* (``0..k-1``, in the contract's class order), shape ``(n,)``;
- ``probs`` is ``(n,)`` for a binary model (the probability of class 1, as :class:`driftline.scoring.Scorer`
  returns it; ``(n, 1)`` and ``(n, 2)`` are accepted too) or ``(n, k)`` for a multiclass one;
- a binary prediction is class 1 when its probability is ``>= 0.5`` (as ``ModelBundle.labels_of``), a
  multiclass prediction is the argmax.

A metric that is undefined on the data (AUC when only one class is present) is ``nan``; callers that write
JSON turn it into ``null``.

Error bars are seeded percentile bootstraps: each resample draws ``n`` rows with replacement, held as a matrix of
how often each row was drawn, so every metric of every resample is a few matrix products (no loop per resample).
A paired bootstrap (the same resampled rows for both) gives the interval of one model's accuracy minus another's,
or minus the majority-class baseline's: the gate's question, "better on these rows, beyond chance?".
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

__all__ = ["LEVEL", "LOG_LOSS_EPS", "RESAMPLES", "accuracy", "accuracy_difference", "bootstrap_intervals",
           "confusion_matrix", "evaluate", "f1", "log_loss", "majority_baseline", "per_class", "predicted", "roc_auc",
           "roc_curves"]  # fmt: skip

#: Probabilities are clipped to [eps, 1 - eps] before the log: float32 sigmoids reach exactly 0 and 1.
LOG_LOSS_EPS = 1e-7
#: Bootstrap resamples and the confidence level of every interval.
RESAMPLES = 1000
LEVEL = 0.95
_CHUNK = 200  # resamples drawn at once: memory stays at _CHUNK * n counts


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


def per_class(y: np.ndarray, probs: np.ndarray, classes: Sequence[Any] | None = None) -> dict[str, dict[str, Any]]:
    """Each class's precision, recall, F1, support (its true rows) and one-vs-rest ROC AUC, keyed by its name in
    ``classes`` (default: its index). A precision or recall with nothing to divide is 0, as in :func:`f1`; an AUC
    without positives or negatives is nan."""
    y, p = _check(y, probs)
    cm = confusion_matrix(y, p)
    names = [str(c) for c in classes] if classes is not None else [str(i) for i in range(len(cm))]
    if len(names) != len(cm):
        raise ValueError(f"expected {len(cm)} class names, found {len(names)}")
    report = {}
    for c, name in enumerate(names):
        tp, predicted_c, support = int(cm[c, c]), int(cm[:, c].sum()), int(cm[c, :].sum())
        report[name] = {
            "precision": tp / predicted_c if predicted_c else 0.0,
            "recall": tp / support if support else 0.0,
            "f1": _f1_of(cm, c),
            "support": support,
            "roc_auc": _binary_auc(y == c, _class_score(p, c)),
        }
    return report


def roc_curves(
    y: np.ndarray, probs: np.ndarray, classes: Sequence[Any] | None = None, *, max_points: int = 50
) -> dict[str, dict[str, list[float]]]:
    """ROC curves as ``{class name: {"fpr": [...], "tpr": [...]}}``: the positive class's for a binary model,
    one-vs-rest for each class of a multiclass one (classes without positives or negatives left out). Only the
    curve's corners are kept, thinned evenly to at most ``max_points``: a plot's worth, not a table of thresholds."""
    y, p = _check(y, probs)
    k = 2 if p.ndim == 1 else p.shape[1]
    names = [str(c) for c in classes] if classes is not None else [str(i) for i in range(k)]
    curves = {}
    for c in [1] if p.ndim == 1 else range(k):
        positive = y == c
        if positive.all() or not positive.any():
            continue
        score = _class_score(p, c)
        order = np.argsort(-score, kind="mergesort")
        ends = np.r_[np.flatnonzero(np.diff(score[order]) != 0), score.size - 1]  # last row of each tied score
        tp, fp = np.r_[0, np.cumsum(positive[order])[ends]], np.r_[0, np.cumsum(~positive[order])[ends]]
        bend = (fp[1:-1] - fp[:-2]) * (tp[2:] - tp[1:-1]) != (tp[1:-1] - tp[:-2]) * (fp[2:] - fp[1:-1])
        corner = np.r_[True, bend, True]  # exact in integer counts: a point in line with its neighbours adds nothing
        fpr, tpr = fp[corner] / fp[-1], tp[corner] / tp[-1]
        if fpr.size > max_points:
            keep = np.unique(np.linspace(0, fpr.size - 1, max_points).round().astype(np.int64))
            fpr, tpr = fpr[keep], tpr[keep]
        curves[names[c]] = {"fpr": [round(float(v), 6) for v in fpr], "tpr": [round(float(v), 6) for v in tpr]}
    return curves


def _class_score(p: np.ndarray, c: int) -> np.ndarray:
    """Class ``c``'s probability: a binary score is class 1's, so class 0's is its complement."""
    if p.ndim == 1:
        return p if c == 1 else 1.0 - p
    return p[:, c]


def evaluate(
    y: np.ndarray, probs: np.ndarray, *, resamples: int = RESAMPLES, seed: int = 0, level: float = LEVEL,
    classes: Sequence[Any] | None = None, curves: bool = False,
) -> dict[str, Any]:
    """Every metric at once, as metrics.json holds them: ``rows``, the confusion matrix, the metrics of each class
    (:func:`per_class`, named by ``classes``), with ``curves`` the ROC curves (:func:`roc_curves`), and (when
    ``resamples``) each metric's interval as ``<metric>_ci``, the majority-class baseline and this model's accuracy
    above it."""
    y, p = _check(y, probs)
    report: dict[str, Any] = {
        "accuracy": accuracy(y, p),
        "roc_auc": roc_auc(y, p),
        "log_loss": log_loss(y, p),
        "f1": f1(y, p),
        "rows": int(y.size),
        "confusion_matrix": confusion_matrix(y, p).tolist(),
        "per_class": per_class(y, p, classes),
    }
    if curves:
        report["roc_curves"] = roc_curves(y, p, classes)
    k = 2 if p.ndim == 1 else p.shape[1]
    majority, baseline = majority_baseline(y, k)
    report.update(baseline_class=majority, baseline_accuracy=baseline)
    if resamples:
        intervals = bootstrap_intervals(y, p, resamples=resamples, seed=seed, level=level)
        report.update({f"{name}_ci": list(bounds) for name, bounds in intervals.items()})
        constant = np.full(y.size, majority)
        report["vs_baseline"] = accuracy_difference(y, predicted(p), constant, resamples=resamples, seed=seed,
                                                    level=level)  # fmt: skip
        report["interval"] = {"method": "percentile bootstrap", "level": level, "resamples": resamples, "seed": seed}
    return report


def majority_baseline(y: np.ndarray, n_classes: int) -> tuple[int, float]:
    """The class a constant model would answer (the most frequent in ``y``, ties to the lower index) and its
    accuracy on ``y``: what a model must beat to be worth serving."""
    counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=n_classes)
    majority = int(counts.argmax())
    return majority, float(counts[majority] / max(1, counts.sum()))


def _resample_counts(n: int, resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Seeded bootstrap resamples of ``n`` rows as ``(chunk, n)`` float64 counts of each row's draws."""
    rng = np.random.default_rng(seed)
    for start in range(0, resamples, _CHUNK):
        b = min(_CHUNK, resamples - start)
        drawn = rng.integers(0, n, size=(b, n)) + (np.arange(b) * n)[:, None]
        yield np.bincount(drawn.ravel(), minlength=b * n).reshape(b, n).astype(np.float64)


def _percentiles(values: np.ndarray, level: float) -> tuple[float, float]:
    tail = (1.0 - level) / 2.0
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return float("nan"), float("nan")
    low, high = np.quantile(finite, [tail, 1.0 - tail])
    return float(low), float(high)


def _weighted_auc(w: np.ndarray, positive: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Mann-Whitney AUC of each row of weights ``w`` (tied scores count one half); nan without both classes."""
    order = np.argsort(score, kind="mergesort")
    starts = np.flatnonzero(np.r_[True, np.diff(score[order]) != 0])
    ws = w if np.array_equal(order, np.arange(order.size)) else w[:, order]  # callers may pass sorted rows
    pos = np.add.reduceat(ws * positive[order], starts, axis=1)
    neg = np.add.reduceat(ws * ~positive[order], starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg
    total = pos.sum(axis=1) * neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (pos * (below + 0.5 * neg)).sum(axis=1) / total, np.nan)


def _mean_of(values: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Row means over the kept entries (macro averages); nan for a row that keeps none."""
    count = keep.sum(axis=1)
    total = np.where(keep, values, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def _weighted_f1(w: np.ndarray, truth: np.ndarray, guess: np.ndarray) -> np.ndarray:
    tp, fp, fn = w @ (truth & guess), w @ (~truth & guess), w @ (truth & ~guess)
    denominator = 2 * tp + fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, 2 * tp / denominator, 0.0)


def bootstrap_intervals(
    y: np.ndarray, probs: np.ndarray, *, resamples: int = RESAMPLES, seed: int = 0, level: float = LEVEL
) -> dict[str, tuple[float, float]]:
    """Percentile-bootstrap intervals of accuracy, ROC AUC, log loss and F1 (each defined as above)."""
    y, p = _check(y, probs)
    if p.ndim == 1:  # resampled counts are exchangeable, so rows may come in score order (the AUC's sort)
        order = np.argsort(p, kind="mergesort")
        y, p = y[order], p[order]
    guess = predicted(p)
    correct = (guess == y).astype(np.float64)
    clipped = np.clip(p, LOG_LOSS_EPS, 1.0 - LOG_LOSS_EPS)
    if p.ndim == 1:
        nll = -np.where(y == 1, np.log(clipped), np.log1p(-clipped))
    else:
        nll = -np.log(clipped[np.arange(y.size), y])
    stats: dict[str, list[np.ndarray]] = {"accuracy": [], "roc_auc": [], "log_loss": [], "f1": []}
    classes = [1] if p.ndim == 1 else list(range(p.shape[1]))
    for w in _resample_counts(y.size, resamples, seed):
        stats["accuracy"].append(w @ correct / y.size)
        stats["log_loss"].append(w @ nll / y.size)
        if p.ndim == 1:
            stats["roc_auc"].append(_weighted_auc(w, y == 1, p))
            stats["f1"].append(_weighted_f1(w, y == 1, guess == 1))
            continue
        aucs = np.stack([_weighted_auc(w, y == c, p[:, c]) for c in classes], axis=1)
        f1s = np.stack([_weighted_f1(w, y == c, guess == c) for c in classes], axis=1)
        present = np.stack([w @ ((y == c) | (guess == c)) > 0 for c in classes], axis=1)
        stats["roc_auc"].append(_mean_of(aucs, ~np.isnan(aucs)))
        stats["f1"].append(_mean_of(f1s, present))
    return {name: _percentiles(np.concatenate(values), level) for name, values in stats.items()}


def accuracy_difference(
    y: np.ndarray, guess_a: np.ndarray, guess_b: np.ndarray, *, resamples: int = RESAMPLES, seed: int = 0,
    level: float = LEVEL,
) -> dict[str, Any]:
    """Accuracy of predicted classes ``guess_a`` minus that of ``guess_b`` on the same rows ``y``, with its
    paired-bootstrap interval: ``{"difference": d, "ci": [low, high]}``. ``low > 0``: a is better beyond chance."""
    y = np.asarray(y)
    if not (y.shape == np.shape(guess_a) == np.shape(guess_b)) or y.size == 0:
        raise ValueError(f"expected predictions for {y.size} rows, found {np.shape(guess_a)} and {np.shape(guess_b)}")
    delta = (np.asarray(guess_a) == y).astype(np.float64) - (np.asarray(guess_b) == y)
    resampled = np.concatenate([w @ delta / y.size for w in _resample_counts(y.size, resamples, seed)])
    return {"difference": float(delta.mean()), "ci": list(_percentiles(resampled, level))}
