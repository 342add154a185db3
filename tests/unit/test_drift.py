"""Drift statistics: PSI by hand, and the sliding window of per-batch counts."""

from __future__ import annotations

import math

import numpy as np
import pytest

from driftline.contract import Contract
from driftline.drift import DriftWindow, psi
from driftline.profile import PREDICTION, Profile

CONTRACT = Contract.model_validate(
    {"name": "test", "features": [{"name": "x", "kind": "numeric"}, {"name": "car", "kind": "categorical"}]}
)


def _batch(
    n: int, seed: int, shift: float = 0.0, unseen: float = 0.0
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1.0, n)
    x[rng.random(n) < 0.1] = np.nan
    car = rng.choice(np.array(["a", "b", "c"], dtype=object), n)
    car[rng.random(n) < unseen] = "zzz"
    scores = 1 / (1 + np.exp(-np.nan_to_num(x)))
    return {"x": x, "car": car}, scores


def _profile() -> Profile:
    columns, scores = _batch(5000, seed=1)
    return Profile.fit(columns, CONTRACT, scores)


# -- psi ----------------------------------------------------------------------------------------------------


def test_psi_by_hand() -> None:
    # expected 50/50, actual 3 of 4 in the first bin: a = (0.75, 0.25)
    # (0.75 - 0.5) ln(0.75/0.5) + (0.25 - 0.5) ln(0.25/0.5) = 0.25 ln 1.5 + 0.25 ln 2 = 0.25 ln 3
    assert psi([0.5, 0.5], [3, 1]) == pytest.approx(0.25 * math.log(3), rel=1e-12)
    assert psi([0.5, 0.5], [3, 1]) == pytest.approx(0.2746530721670274, rel=1e-12)


def test_psi_smooths_empty_bins_with_epsilon() -> None:
    # expected (0.5, 0.5, 0), actual (2, 1, 1) of 4: a = (0.5, 0.25, 0.25); the empty expected bin is 1e-4
    # 0 + (0.25 - 0.5) ln(0.25/0.5) + (0.25 - 1e-4) ln(0.25/1e-4)
    by_hand = -0.25 * math.log(0.5) + (0.25 - 1e-4) * math.log(0.25 / 1e-4)
    assert psi([0.5, 0.5, 0.0], [2, 1, 1]) == pytest.approx(by_hand, rel=1e-12)
    assert by_hand == pytest.approx(2.1285, abs=1e-4)
    # an empty actual bin is floored the same way: (1e-4 - 0.5) ln(1e-4/0.5) + (1 - 0.5) ln(1/0.5)
    by_hand = (1e-4 - 0.5) * math.log(1e-4 / 0.5) + 0.5 * math.log(2)
    assert psi([0.5, 0.5], [0, 7]) == pytest.approx(by_hand, rel=1e-12)
    assert psi([0.5, 0.5], [0, 7], eps=1e-3) < by_hand  # a larger epsilon caps the penalty lower


def test_psi_of_identical_distributions_is_zero() -> None:
    assert psi([0.2, 0.3, 0.5], [20, 30, 50]) == 0.0
    assert psi([0.0, 1.0], [0, 10]) == 0.0  # empty on both sides costs nothing


def test_psi_refuses_mismatched_or_empty_input() -> None:
    with pytest.raises(ValueError, match="one length"):
        psi([0.5, 0.5], [1, 2, 3])
    with pytest.raises(ValueError, match="at least one record"):
        psi([0.5, 0.5], [0, 0])


def test_same_distribution_is_stable_and_a_shift_is_drift() -> None:
    profile = _profile()
    expected = profile.fractions()
    same = profile.counts(*_batch(5000, seed=2))
    shifted = profile.counts(*_batch(5000, seed=3, shift=1.0))
    assert psi(expected["x"], same["x"]) < 0.02
    assert psi(expected[PREDICTION], same[PREDICTION]) < 0.02
    assert psi(expected["x"], shifted["x"]) > 0.25
    assert psi(expected[PREDICTION], shifted[PREDICTION]) > 0.25


# -- the window ---------------------------------------------------------------------------------------------


def test_window_waits_for_min_records() -> None:
    profile = _profile()
    window = DriftWindow(profile, size=1000, min_records=500)
    window.add(profile.counts(*_batch(300, seed=4)))
    assert window.records == 300 and window.snapshot() is None
    window.add(profile.counts(*_batch(300, seed=5)))
    snapshot = window.snapshot()
    assert snapshot is not None and snapshot.records == 600 and snapshot.batches == 2
    assert set(snapshot.feature_psi) == {"x", "car"} and set(snapshot.unknown_ratio) == {"car"}
    assert snapshot.missing_ratio["x"] == pytest.approx(0.1, abs=0.04)
    assert snapshot.prediction_psi < 0.1


def test_window_evicts_whole_oldest_batches_while_size_still_holds() -> None:
    profile = _profile()
    window = DriftWindow(profile, size=1000, min_records=1000)
    batches = [profile.counts(*_batch(300, seed=10 + i)) for i in range(6)]
    for b in batches[:4]:
        window.add(b)
    assert (window.records, window.batches) == (1200, 4)  # dropping one would leave 900 < 1000
    window.add(batches[4])
    assert (window.records, window.batches) == (1200, 4)  # 1500 - 300 >= 1000: the oldest went
    window.add(batches[5])
    assert (window.records, window.batches) == (1200, 4)
    snapshot = window.snapshot()
    assert snapshot is not None
    kept = {k: sum(b[k] for b in batches[2:]) for k in batches[0]}
    for name in ("x", "car"):
        assert snapshot.feature_psi[name] == psi(profile.fractions()[name], kept[name])
    assert snapshot.missing_ratio["x"] == kept["x"][-1] / 1200


def test_a_batch_larger_than_the_window_stays_alone() -> None:
    profile = _profile()
    window = DriftWindow(profile, size=500, min_records=100)
    window.add(profile.counts(*_batch(200, seed=1)))
    window.add(profile.counts(*_batch(800, seed=2)))
    assert (window.records, window.batches) == (800, 1)


def test_window_sees_drift_and_unknown_categories_then_resets() -> None:
    profile = _profile()
    window = DriftWindow(profile, size=2000, min_records=1000)
    for i in range(5):
        window.add(profile.counts(*_batch(512, seed=20 + i, shift=1.5, unseen=0.2)))
    snapshot = window.snapshot()
    assert snapshot is not None
    assert snapshot.feature_psi["x"] > 0.25 and snapshot.prediction_psi > 0.25
    assert snapshot.unknown_ratio["car"] == pytest.approx(0.2, abs=0.03)
    window.reset()
    assert window.records == 0 and window.batches == 0 and window.snapshot() is None
    window.add(profile.counts(*_batch(1000, seed=30)))
    snapshot = window.snapshot()
    assert snapshot is not None and snapshot.feature_psi["x"] < 0.05


def test_running_totals_stay_exact_over_many_batches() -> None:
    profile = _profile()
    window = DriftWindow(profile, size=1000, min_records=1)
    rng = np.random.default_rng(0)
    history = []
    for i in range(60):
        counts = profile.counts(*_batch(int(rng.integers(1, 400)), seed=100 + i))
        history.append(counts)
        window.add(counts)
    kept = history[len(history) - window.batches :]
    assert window.records == sum(int(c[PREDICTION].sum()) for c in kept)
    assert window.records - int(kept[0][PREDICTION].sum()) < 1000 <= window.records
    snapshot = window.snapshot()
    assert snapshot is not None
    assert snapshot.feature_psi["car"] == psi(profile.fractions()["car"], sum(c["car"] for c in kept))


def test_add_refuses_counts_that_do_not_match_the_profile() -> None:
    profile = _profile()
    window = DriftWindow(profile)
    counts = profile.counts(*_batch(10, seed=1))
    with pytest.raises(ValueError, match="do not match"):
        window.add({k: v for k, v in counts.items() if k != "car"})
    with pytest.raises(ValueError, match="summing to"):
        window.add({**counts, "car": counts["car"] * 2})
    window.add({k: np.zeros_like(v) for k, v in counts.items()})  # an empty batch is a no-op
    assert window.batches == 0
    with pytest.raises(ValueError, match="min_records"):
        DriftWindow(profile, size=100, min_records=101)
