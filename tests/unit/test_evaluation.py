"""Metrics against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trainer.evaluation import accuracy, evaluate, f1, log_loss, roc_auc

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
