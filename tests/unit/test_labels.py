from __future__ import annotations

import pytest

from processors.labels import RollingAccuracy


def test_rolling_accuracy_forgets_beyond_its_window() -> None:
    acc = RollingAccuracy(size=4)
    outcomes = [True, True, False, False, True, True, True]
    for i, correct in enumerate(outcomes, start=1):
        acc.add(1, correct)
        window = outcomes[max(0, i - 4) : i]
        assert acc.accuracy(1) == pytest.approx(sum(window) / len(window))
    assert acc.accuracy(1) == pytest.approx(3 / 4)  # F, T, T, T


def test_rolling_accuracy_is_per_version() -> None:
    acc = RollingAccuracy(size=10)
    acc.add(1, True)
    acc.add(2, False)
    assert acc.accuracy(1) == 1.0
    assert acc.accuracy(2) == 0.0
    assert acc.accuracy(3) is None
    assert acc.versions() == [1, 2]
