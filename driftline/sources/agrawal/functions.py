"""The ten Agrawal labelling functions, numbered 1..10 as in the paper and MOA (river numbers them 0..9).

Label 0 is the paper's group A (the function's condition holds), 1 is group B.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from driftline.sources.agrawal.features import Columns


def _between(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return (lo <= x) & (x <= hi)


def _by_age(c: Columns, young: np.ndarray, middle: np.ndarray, old: np.ndarray) -> np.ndarray:
    age = c["age"]
    return np.where(age < 40, young, np.where(age < 60, middle, old))


def _disposable(c: Columns) -> np.ndarray:
    return 2.0 * (c["salary"] + c["commission"]) / 3.0


def _f1(c: Columns) -> np.ndarray:
    return (c["age"] < 40) | (c["age"] >= 60)


def _f2(c: Columns) -> np.ndarray:
    s = c["salary"]
    return _by_age(c, _between(s, 50e3, 100e3), _between(s, 75e3, 125e3), _between(s, 25e3, 75e3))


def _f3(c: Columns) -> np.ndarray:
    e = c["elevel"]
    return _by_age(c, e <= 1, (e >= 1) & (e <= 3), (e >= 2) & (e <= 4))


def _f4(c: Columns) -> np.ndarray:
    s, e = c["salary"], c["elevel"]
    low, mid, high = _between(s, 25e3, 75e3), _between(s, 50e3, 100e3), _between(s, 75e3, 125e3)
    return _by_age(
        c,
        np.where(e <= 1, low, mid),
        np.where((e >= 1) & (e <= 3), mid, high),
        np.where((e >= 2) & (e <= 4), mid, low),
    )


def _f5(c: Columns) -> np.ndarray:
    s, loan = c["salary"], c["loan"]
    return _by_age(
        c,
        np.where(_between(s, 50e3, 100e3), _between(loan, 100e3, 300e3), _between(loan, 200e3, 400e3)),
        np.where(_between(s, 75e3, 125e3), _between(loan, 200e3, 400e3), _between(loan, 300e3, 500e3)),
        np.where(_between(s, 25e3, 75e3), _between(loan, 300e3, 500e3), _between(loan, 100e3, 300e3)),
    )


def _f6(c: Columns) -> np.ndarray:
    t = c["salary"] + c["commission"]
    return _by_age(c, _between(t, 50e3, 100e3), _between(t, 75e3, 125e3), _between(t, 25e3, 75e3))


def _f7(c: Columns) -> np.ndarray:
    return _disposable(c) - c["loan"] / 5.0 - 20_000.0 > 0


def _f8(c: Columns) -> np.ndarray:
    return _disposable(c) - 5000.0 * c["elevel"] - 20_000.0 > 0


def _f9(c: Columns) -> np.ndarray:
    return _disposable(c) - 5000.0 * c["elevel"] - c["loan"] / 5.0 - 10_000.0 > 0


def _f10(c: Columns) -> np.ndarray:
    equity = np.where(c["hyears"] >= 20, c["hvalue"] * (c["hyears"] - 20.0) / 10.0, 0.0)
    return _disposable(c) - 5000.0 * c["elevel"] + equity / 5.0 - 10_000.0 > 0


FUNCTIONS: tuple[Callable[[Columns], np.ndarray], ...] = (_f1, _f2, _f3, _f4, _f5, _f6, _f7, _f8, _f9, _f10)


def agrawal_labels(columns: Columns, function: int) -> np.ndarray:
    """Noise-free labels (0 = group A, 1 = group B) of function 1..10 over integer-coded columns."""
    if not 1 <= function <= len(FUNCTIONS):
        raise ValueError(f"Agrawal functions are numbered 1..{len(FUNCTIONS)}, found {function}")
    return np.where(FUNCTIONS[function - 1](columns), 0, 1).astype(np.int64)
