"""The champion/challenger gate with error bars: a gain beyond chance and above the margin, and above the baseline."""

from __future__ import annotations

import numpy as np
import pytest

from trainer.retrain import gate

N = 2000


def _world(seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random(N) < 0.77).astype(np.int64)  # 77% positives, as after the demo's drift


def _scores_right_on(y: np.ndarray, share: float, seed: int) -> np.ndarray:
    """Probabilities that name the true class on about ``share`` of the rows."""
    right = np.random.default_rng(seed).random(y.size) < share
    label = np.where(right, y, 1 - y)
    return np.where(label == 1, 0.8, 0.2)


def test_a_clear_win_is_promoted_and_the_reason_gives_the_intervals() -> None:
    y = _world()
    promote, why, comparison = gate(y, _scores_right_on(y, 0.77, 1), _scores_right_on(y, 0.93, 2), 0.005)
    assert promote
    low, high = comparison["vs_champion"]["ci"]
    assert 0.005 < low < comparison["vs_champion"]["difference"] < high
    assert comparison["vs_baseline"]["ci"][0] > 0 and comparison["baseline_accuracy"] == pytest.approx(y.mean())
    assert "95% CI" in why and "above margin 0.0050" in why


def test_the_same_model_is_not_promoted_even_with_no_margin() -> None:
    y = _world()
    scores = _scores_right_on(y, 0.9, 1)
    promote, _, comparison = gate(y, scores, scores, 0.0)
    assert not promote and comparison["vs_champion"] == {"difference": 0.0, "ci": [0.0, 0.0]}


def test_a_gain_above_the_margin_but_within_chance_is_rejected() -> None:
    y = _world()
    old = _scores_right_on(y, 0.90, 1)
    new = old.copy()
    wrong = np.flatnonzero((old >= 0.5) != y)[:16]  # 16 rows of 2000 fixed: +0.008, above the margin 0.005
    new[wrong] = 1.0 - new[wrong]
    promote, why, comparison = gate(y, old, new, 0.005)
    assert comparison["vs_champion"]["difference"] == pytest.approx(0.008)
    assert not promote and comparison["vs_champion"]["ci"][0] <= 0.005 and "not above margin" in why


def test_beating_a_bad_champion_is_not_enough_below_the_baseline() -> None:
    y = _world()
    champion = _scores_right_on(y, 0.60, 1)  # worse than always answering 1 (0.77)
    challenger = _scores_right_on(y, 0.75, 2)  # much better than the champion, still no better than the constant
    promote, why, comparison = gate(y, champion, challenger, 0.005)
    assert comparison["vs_champion"]["ci"][0] > 0.005
    assert not promote and comparison["vs_baseline"]["ci"][0] <= 0 and why.endswith("not above 0")


def test_the_gate_is_seeded() -> None:
    y = _world()
    old, new = _scores_right_on(y, 0.8, 1), _scores_right_on(y, 0.83, 2)
    assert gate(y, old, new, 0.0, seed=3) == gate(y, old, new, 0.0, seed=3)
    assert gate(y, old, new, 0.0, seed=3)[2] != gate(y, old, new, 0.0, seed=4)[2]


def test_multiclass_scores() -> None:
    y = np.random.default_rng(0).integers(0, 3, N)
    good = np.full((N, 3), 0.1)
    good[np.arange(N), y] = 0.8
    flat = np.tile([0.2, 0.5, 0.3], (N, 1))
    assert gate(y, flat, good, 0.005)[0]
    assert not gate(y, good, flat, 0.005)[0]
