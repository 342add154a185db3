"""Metrics against values computed by hand; the evaluation plot."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from trainer.evaluation import (
    accuracy,
    accuracy_difference,
    bootstrap_intervals,
    evaluate,
    f1,
    log_loss,
    majority_baseline,
    per_class,
    roc_auc,
    roc_curves,
)

Y = np.array([0, 0, 1, 1])
P = np.array([0.1, 0.6, 0.4, 0.9])  # predicted 0, 1, 0, 1 → one false positive, one false negative


def test_accuracy_by_hand() -> None:
    assert accuracy(Y, P) == 0.5


def test_roc_auc_by_hand() -> None:
    # positive/negative pairs: (0.4 vs 0.1 ✓), (0.4 vs 0.6 ✗), (0.9 vs 0.1 ✓), (0.9 vs 0.6 ✓) → 3 of 4
    assert roc_auc(Y, P) == pytest.approx(0.75)
    assert roc_auc(np.array([0, 1]), np.array([0.5, 0.5])) == pytest.approx(0.5)  # a tie counts half


def test_log_loss_by_hand() -> None:
    expected = -(math.log(0.9) + math.log(0.4) + math.log(0.4) + math.log(0.9)) / 4
    assert log_loss(Y, P) == pytest.approx(expected)


def test_f1_by_hand() -> None:
    # tp = 1, fp = 1, fn = 1 → precision 0.5, recall 0.5, F1 0.5
    assert f1(Y, P) == pytest.approx(0.5)


def test_multiclass_macro_metrics() -> None:
    y = np.array([0, 1, 2, 2])
    p = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8], [0.6, 0.2, 0.2]])
    assert accuracy(y, p) == 0.75
    # per class F1: class 0: tp1 fp1 fn0 → 2/3; class 1: 1; class 2: tp1 fp0 fn1 → 2/3
    assert f1(y, p) == pytest.approx((2 / 3 + 1 + 2 / 3) / 3)
    report = evaluate(y, p)
    assert report["rows"] == 4 and report["confusion_matrix"] == [[1, 0, 0], [0, 1, 0], [1, 0, 1]]


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError):
        accuracy(np.array([0, 1]), np.array([0.5]))
    with pytest.raises(ValueError):
        accuracy(np.array([0, 3]), np.array([0.5, 0.5]))
    with pytest.raises(ValueError):
        accuracy(np.array([0, 1]), np.array([np.nan, 0.5]))


# -- error bars ---------------------------------------------------------------------------------------------


def _binary(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    return y, np.clip(0.35 * y + 0.65 * rng.random(n), 0.0, 1.0)  # informative, imperfect, ties-free


def test_the_resampled_metrics_are_the_metrics_of_the_resampled_rows() -> None:
    from trainer.evaluation import _resample_counts, _weighted_auc, _weighted_f1

    y, p = _binary(300)
    p[:40] = 0.5  # ties count one half in both
    w = next(_resample_counts(y.size, 3, seed=4))
    for row in w:
        rows = np.repeat(np.arange(y.size), row.astype(int))
        assert _weighted_auc(row[None], y == 1, p)[0] == pytest.approx(roc_auc(y[rows], p[rows]))
        assert _weighted_f1(row[None], y == 1, p >= 0.5)[0] == pytest.approx(f1(y[rows], p[rows]))
        assert row.sum() == y.size


def test_intervals_are_seeded_hold_the_estimate_and_shrink_with_rows() -> None:
    y, p = _binary(2000)
    a = bootstrap_intervals(y, p, resamples=500, seed=1)
    assert a == bootstrap_intervals(y, p, resamples=500, seed=1)
    assert a != bootstrap_intervals(y, p, resamples=500, seed=2)
    for name, metric in (("accuracy", accuracy), ("roc_auc", roc_auc), ("log_loss", log_loss), ("f1", f1)):
        low, high = a[name]
        assert low < metric(y, p) < high, name
    acc = accuracy(y, p)  # the normal approximation's half width, 1.96 sqrt(a (1 - a) / n)
    assert a["accuracy"][1] - a["accuracy"][0] == pytest.approx(2 * 1.96 * math.sqrt(acc * (1 - acc) / 2000), rel=0.15)
    small = bootstrap_intervals(y[:200], p[:200], resamples=500, seed=1)["accuracy"]
    assert small[1] - small[0] > 2 * (a["accuracy"][1] - a["accuracy"][0])


def test_multiclass_intervals() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 900)
    p = rng.dirichlet([1.0, 1.0, 1.0], 900)
    p[np.arange(900), y] += 0.6
    p /= p.sum(axis=1, keepdims=True)
    intervals = bootstrap_intervals(y, p, resamples=300, seed=0)
    for name, metric in (("accuracy", accuracy), ("roc_auc", roc_auc), ("f1", f1), ("log_loss", log_loss)):
        assert intervals[name][0] < metric(y, p) < intervals[name][1], name


def test_paired_difference_of_accuracies() -> None:
    y, p = _binary(1000)
    guess = (p >= 0.5).astype(int)
    same = accuracy_difference(y, guess, guess, resamples=200)
    assert same == {"difference": 0.0, "ci": [0.0, 0.0]}
    better = guess.copy()
    wrong = np.flatnonzero(better != y)[:60]
    better[wrong] = y[wrong]  # 60 more right of 1000, nothing else changed: clearly better
    result = accuracy_difference(y, better, guess, resamples=500, seed=3)
    assert result["difference"] == pytest.approx(0.06) and 0.04 < result["ci"][0] < 0.06 < result["ci"][1]
    flip = accuracy_difference(y, guess, better, resamples=500, seed=3)
    assert flip["ci"][1] < 0
    slightly = guess.copy()
    slightly[wrong[:2]] = y[wrong[:2]]
    assert accuracy_difference(y, slightly, guess, resamples=500)["ci"][0] <= 0  # 2 rows of 1000: not beyond chance
    with pytest.raises(ValueError):
        accuracy_difference(y, guess[:10], guess)


def test_majority_baseline_and_evaluate_report() -> None:
    assert majority_baseline(np.array([1, 1, 0, 1]), 2) == (1, 0.75)
    assert majority_baseline(np.array([0, 1]), 2) == (0, 0.5)  # a tie: the lower class
    y, p = _binary(500)
    report = evaluate(y, p, resamples=200, seed=5)
    assert report["accuracy_ci"][0] < report["accuracy"] < report["accuracy_ci"][1]
    assert report["baseline_accuracy"] == max(y.mean(), 1 - y.mean())
    assert report["vs_baseline"]["difference"] == pytest.approx(report["accuracy"] - report["baseline_accuracy"])
    assert report["interval"] == {"method": "percentile bootstrap", "level": 0.95, "resamples": 200, "seed": 5}
    plain = evaluate(y, p, resamples=0)
    assert "accuracy_ci" not in plain and "vs_baseline" not in plain and "baseline_accuracy" in plain


def test_a_constant_model_does_not_beat_the_baseline() -> None:
    y = np.array([1] * 77 + [0] * 23)
    report = evaluate(y, np.full(100, 0.9), resamples=200)
    assert report["accuracy"] == report["baseline_accuracy"] == 0.77
    assert report["vs_baseline"] == {"difference": 0.0, "ci": [0.0, 0.0]}


Y3 = np.array([0, 1, 2, 2])
P3 = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8], [0.6, 0.2, 0.2]])


def test_per_class_metrics_by_hand() -> None:
    report = per_class(Y3, P3, ["zero", "one", "two"])
    assert list(report) == ["zero", "one", "two"]
    # zero: predicted twice (rows 0, 3), right once; one true row → precision 1/2, recall 1, F1 2/3
    assert report["zero"] == pytest.approx({"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1,
                                            "roc_auc": 1.0})  # fmt: skip
    # two: predicted once, right; two true rows → precision 1, recall 1/2; AUC: 0.8 and 0.2 against 0.1, 0.1 → 1
    assert report["two"] == pytest.approx({"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2, "roc_auc": 1.0})
    binary = per_class(Y, P)  # class 0 scored by 1 - p: the same AUC, its own precision and recall
    assert binary["0"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2, "roc_auc": 0.75})
    assert math.isnan(per_class(np.array([0, 0]), np.array([0.2, 0.7]))["1"]["roc_auc"])  # no positives
    with pytest.raises(ValueError, match="expected 3 class names, found 2"):
        per_class(Y3, P3, ["a", "b"])


def test_roc_curves_keep_the_corners_of_the_exact_curve() -> None:
    # scores in falling order 0.9 (+), 0.6 (-), 0.4 (+), 0.1 (-): up, right, up, right
    assert roc_curves(Y, P) == {"1": {"fpr": [0.0, 0.0, 0.5, 0.5, 1.0], "tpr": [0.0, 0.5, 0.5, 1.0, 1.0]}}
    # a perfect ranking is one corner; points in line with their neighbours are left out
    perfect = roc_curves(np.array([0, 0, 0, 1, 1]), np.array([0.1, 0.2, 0.3, 0.8, 0.9]), ["no", "yes"])
    assert perfect == {"yes": {"fpr": [0.0, 0.0, 1.0], "tpr": [0.0, 1.0, 1.0]}}
    curves = roc_curves(Y3, P3, ["zero", "one", "two"])
    assert set(curves) == {"zero", "one", "two"}  # one against the rest, per class
    rng = np.random.default_rng(4)
    y, p = rng.integers(0, 2, 2000), rng.random(2000)
    thinned = roc_curves(y, p, max_points=20)["1"]
    assert len(thinned["fpr"]) <= 20 and thinned["fpr"][0] == 0.0 and thinned["tpr"][-1] == 1.0
    assert np.all(np.diff(thinned["fpr"]) >= 0) and np.all(np.diff(thinned["tpr"]) >= 0)
    full = roc_curves(y, p, max_points=10_000)["1"]  # its area is the rank AUC
    assert np.trapezoid(full["tpr"], full["fpr"]) == pytest.approx(roc_auc(y, p), abs=1e-6)


def test_evaluate_names_classes_and_adds_curves_when_asked() -> None:
    report = evaluate(Y3, P3, resamples=0, classes=["zero", "one", "two"])
    assert list(report["per_class"]) == ["zero", "one", "two"] and "roc_curves" not in report
    assert set(evaluate(Y3, P3, resamples=0, curves=True)["roc_curves"]) == {"0", "1", "2"}


@pytest.mark.parametrize(("y", "p"), [(Y, P), (Y3, P3)])
def test_the_evaluation_plot_is_a_png(y: np.ndarray, p: np.ndarray, tmp_path: Path) -> None:
    from trainer.curves import plot_evaluation

    path = plot_evaluation(evaluate(y, p, resamples=0, curves=True), tmp_path / "evaluation.png", title="test")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5_000
    with pytest.raises(ValueError, match="no confusion matrix"):
        plot_evaluation({"accuracy": 1.0}, tmp_path / "none.png")
