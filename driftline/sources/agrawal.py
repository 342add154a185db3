"""The Agrawal et al. (1993) loan-application stream, seeded and vectorised, with drift switched on by index.

Features as in MOA's ``AgrawalGenerator``: salary U(20k, 150k); commission 0 when salary >= 75k, else
U(10k, 75k); age 20..80; elevel 0..4; car 1..20; zipcode 0..8; hvalue (9 - zipcode) * 100k * U(0.5, 1.5);
hyears 1..30; loan U(0, 500k). Money is rounded to cents before labelling, so a record's label can be
recomputed from the record itself. The ten labelling functions are numbered 1..10 as in the paper and MOA
(river numbers them 0..9); label 0 is the paper's group A (the function's condition holds), 1 is group B.
Label noise flips a label with probability ``noise``. Categoricals are emitted as strings.

Every random draw is made whether or not a drift is active, so a drifted stream equals the undrifted one
with the same seed on every record before the drift starts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from driftline.contract import Contract, FeatureKind, builtin_contract
from driftline.errors import DataError
from driftline.sources.base import LabeledRecord, Source, event_times
from driftline.sources.drift import DriftKind, DriftSpec, parse_drift

logger = logging.getLogger(__name__)

_CHUNK = 4096  # records generated per vectorised step; part of what a seed means, so fixed
_NUMERIC = {  # generating range of each numeric feature (before drift)
    "salary": (20_000.0, 150_000.0),
    "commission": (0.0, 75_000.0),
    "age": (20.0, 80.0),
    "hvalue": (50_000.0, 1_350_000.0),
    "hyears": (1.0, 30.0),
    "loan": (0.0, 500_000.0),
}
_CATEGORICAL = {"elevel": (0, 4), "car": (1, 20), "zipcode": (0, 8)}  # integer codes, emitted as str
_INTEGER = frozenset({"age", "hyears"})
FEATURES = ("salary", "commission", "age", "elevel", "car", "zipcode", "hvalue", "hyears", "loan")

_Cols = dict[str, np.ndarray]


def _between(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return (lo <= x) & (x <= hi)


def _by_age(c: _Cols, young: np.ndarray, middle: np.ndarray, old: np.ndarray) -> np.ndarray:
    age = c["age"]
    return np.where(age < 40, young, np.where(age < 60, middle, old))


def _disposable(c: _Cols) -> np.ndarray:
    return 2.0 * (c["salary"] + c["commission"]) / 3.0


def _f1(c: _Cols) -> np.ndarray:
    return (c["age"] < 40) | (c["age"] >= 60)


def _f2(c: _Cols) -> np.ndarray:
    s = c["salary"]
    return _by_age(c, _between(s, 50e3, 100e3), _between(s, 75e3, 125e3), _between(s, 25e3, 75e3))


def _f3(c: _Cols) -> np.ndarray:
    e = c["elevel"]
    return _by_age(c, e <= 1, (e >= 1) & (e <= 3), (e >= 2) & (e <= 4))


def _f4(c: _Cols) -> np.ndarray:
    s, e = c["salary"], c["elevel"]
    low, mid, high = _between(s, 25e3, 75e3), _between(s, 50e3, 100e3), _between(s, 75e3, 125e3)
    return _by_age(
        c,
        np.where(e <= 1, low, mid),
        np.where((e >= 1) & (e <= 3), mid, high),
        np.where((e >= 2) & (e <= 4), mid, low),
    )


def _f5(c: _Cols) -> np.ndarray:
    s, loan = c["salary"], c["loan"]
    return _by_age(
        c,
        np.where(_between(s, 50e3, 100e3), _between(loan, 100e3, 300e3), _between(loan, 200e3, 400e3)),
        np.where(_between(s, 75e3, 125e3), _between(loan, 200e3, 400e3), _between(loan, 300e3, 500e3)),
        np.where(_between(s, 25e3, 75e3), _between(loan, 300e3, 500e3), _between(loan, 100e3, 300e3)),
    )


def _f6(c: _Cols) -> np.ndarray:
    t = c["salary"] + c["commission"]
    return _by_age(c, _between(t, 50e3, 100e3), _between(t, 75e3, 125e3), _between(t, 25e3, 75e3))


def _f7(c: _Cols) -> np.ndarray:
    return _disposable(c) - c["loan"] / 5.0 - 20_000.0 > 0


def _f8(c: _Cols) -> np.ndarray:
    return _disposable(c) - 5000.0 * c["elevel"] - 20_000.0 > 0


def _f9(c: _Cols) -> np.ndarray:
    return _disposable(c) - 5000.0 * c["elevel"] - c["loan"] / 5.0 - 10_000.0 > 0


def _f10(c: _Cols) -> np.ndarray:
    equity = np.where(c["hyears"] >= 20, c["hvalue"] * (c["hyears"] - 20.0) / 10.0, 0.0)
    return _disposable(c) - 5000.0 * c["elevel"] + equity / 5.0 - 10_000.0 > 0


FUNCTIONS: tuple[Callable[[_Cols], np.ndarray], ...] = (_f1, _f2, _f3, _f4, _f5, _f6, _f7, _f8, _f9, _f10)


def agrawal_labels(columns: _Cols, function: int) -> np.ndarray:
    """Noise-free labels (0 = group A, 1 = group B) of function 1..10 over integer-coded columns."""
    if not 1 <= function <= len(FUNCTIONS):
        raise ValueError(f"Agrawal functions are numbered 1..{len(FUNCTIONS)}, found {function}")
    return np.where(FUNCTIONS[function - 1](columns), 0, 1).astype(np.int64)


class AgrawalSource(Source):
    """A seeded, endless (or ``n_records`` long) Agrawal stream; ids ``agr-<seed>-<index>``.

    ``drift`` takes DriftSpecs or their compact text (see :mod:`driftline.sources.drift`), e.g.
    ``AgrawalSource(seed=1, drift="concept:function=3@20000;missing:age:0.3@10000..12000")``.
    Event time of record i is ``start_ms + i * interval_ms`` (ISO-8601 text when the contract says so).
    """

    def __init__(
        self,
        *,
        seed: int = 7,
        function: int = 1,
        noise: float = 0.05,
        drift: str | Iterable[DriftSpec | str] | None = None,
        start_ms: int = 1_704_067_200_000,  # 2024-01-01T00:00:00Z
        interval_ms: int = 10,
        n_records: int | None = None,
        contract: Contract | None = None,
    ) -> None:
        if seed < 0:
            raise ValueError(f"seed must be >= 0, found {seed}")
        if not 1 <= function <= len(FUNCTIONS):
            raise ValueError(f"function must be in 1..{len(FUNCTIONS)}, found {function}")
        if not 0.0 <= noise <= 1.0:
            raise ValueError(f"noise must be a probability in [0, 1], found {noise}")
        if n_records is not None and n_records < 0:
            raise ValueError(f"n_records must be >= 0 or None, found {n_records}")
        self.seed, self.function, self.noise = seed, function, noise
        self.start_ms, self.interval_ms, self.n_records = start_ms, interval_ms, n_records
        if isinstance(drift, str) or drift is None:
            self.drift = parse_drift(drift)
        else:
            self.drift = tuple(d if isinstance(d, DriftSpec) else DriftSpec.parse(d) for d in drift)
        self._contract = contract if contract is not None else builtin_contract("agrawal")
        self._check_fit()
        top = max(
            (_CATEGORICAL[str(d.feature)][1] + d.count for d in self._of(DriftKind.NEW_CATEGORIES)),
            default=20,
        )
        self._codes = np.array([str(i) for i in range(top + 1)], dtype=object)

    @property
    def contract(self) -> Contract:
        return self._contract

    def __repr__(self) -> str:
        drift = ";".join(str(d) for d in self.drift)
        return (
            f"AgrawalSource(seed={self.seed}, function={self.function}, noise={self.noise}, drift={drift!r})"
        )

    def records(self) -> Iterator[LabeledRecord]:
        rng = np.random.default_rng(self.seed)
        drift_rngs = [np.random.default_rng([self.seed, k + 1]) for k in range(len(self.drift))]
        start = 0
        while self.n_records is None or start < self.n_records:
            chunk = self._chunk(rng, drift_rngs, start)
            if self.n_records is not None and start + _CHUNK > self.n_records:
                chunk = chunk[: self.n_records - start]
            yield from chunk
            start += _CHUNK

    # -- internals ----------------------------------------------------------------------------------------

    def _of(self, kind: DriftKind) -> list[DriftSpec]:
        return [d for d in self.drift if d.kind is kind]

    def _check_fit(self) -> None:
        """Fail early, naming the problem, when the contract or a drift spec cannot fit this generator."""
        c = self._contract
        if set(c.feature_names) != set(FEATURES):
            raise DataError(
                f"contract {c.name!r} has features {list(c.feature_names)}; Agrawal emits {FEATURES}"
            )
        for f in c.features:
            want = FeatureKind.NUMERIC if f.name in _NUMERIC else FeatureKind.CATEGORICAL
            if f.kind is not want:
                raise DataError(
                    f"contract {c.name!r}: {f.name!r} should be {want.value}, found {f.kind.value}"
                )
        if set(c.label.classes) != {0, 1}:
            raise DataError(
                f"contract {c.name!r}: Agrawal labels are 0/1, found classes {list(c.label.classes)}"
            )
        for d in self.drift:
            if d.kind is DriftKind.CONCEPT and not 1 <= (d.function or 0) <= len(FUNCTIONS):
                raise DataError(f"drift {d}: function must be in 1..{len(FUNCTIONS)}")
            elif d.kind is DriftKind.COVARIATE:
                if d.feature not in _NUMERIC:
                    raise DataError(
                        f"drift {d}: covariate drift needs a numeric feature, one of {list(_NUMERIC)}"
                    )
                lo, hi = sorted(x * d.scale + d.shift for x in _NUMERIC[d.feature])
                f = c.feature(d.feature)
                if (f.min is not None and lo < f.min) or (f.max is not None and hi > f.max):
                    raise DataError(
                        f"drift {d} moves {d.feature} to [{lo:g}, {hi:g}], outside the contract's "
                        f"bounds [{f.min}, {f.max}]; every drifted record would be rejected as out_of_range"
                    )
            elif d.kind is DriftKind.NEW_CATEGORIES and d.feature not in _CATEGORICAL:
                raise DataError(
                    f"drift {d}: new categories need a categorical feature, one of {list(_CATEGORICAL)}"
                )
            elif d.kind is DriftKind.MISSING:
                if d.feature not in FEATURES:
                    raise DataError(f"drift {d}: unknown feature {d.feature!r}; Agrawal has {FEATURES}")
                if not c.feature(d.feature).nullable:
                    raise DataError(f"drift {d}: {d.feature!r} is not nullable in contract {c.name!r}")

    def _chunk(
        self, rng: np.random.Generator, drift_rngs: list[np.random.Generator], start: int
    ) -> list[Any]:
        n = _CHUNK
        cols = _draw(rng, n)
        flip = rng.random(n) < self.noise
        index = np.arange(start, start + n, dtype=np.int64)
        function = np.full(n, self.function)
        nulls: dict[str, np.ndarray] = {}
        for d, drng in zip(self.drift, drift_rngs, strict=True):
            u, pick = drng.random(n), drng.integers(0, d.count, n)  # drawn even when inactive: see module doc
            active = (index >= d.start) if d.end is None else (index >= d.start) & (index < d.end)
            if not active.any():
                continue
            name = d.feature or ""
            if d.kind is DriftKind.CONCEPT:
                function[active] = d.function
            elif d.kind is DriftKind.COVARIATE:
                moved = cols[name] * d.scale + d.shift
                cols[name] = np.where(active, np.round(moved, 0 if name in _INTEGER else 2), cols[name])
            elif d.kind is DriftKind.NEW_CATEGORIES:
                hit = active & (u < d.fraction)
                cols[name] = np.where(hit, _CATEGORICAL[name][1] + 1 + pick, cols[name])
            else:
                nulls[name] = nulls.get(name, np.zeros(n, dtype=bool)) | (active & (u < d.fraction))
        labels = np.empty(n, dtype=np.int64)
        for f in np.unique(function).tolist():
            mask = function == f
            labels[mask] = agrawal_labels(cols, f)[mask]
        labels ^= flip
        return self._assemble(cols, labels, index, nulls)

    def _assemble(
        self, cols: _Cols, labels: np.ndarray, index: np.ndarray, nulls: dict[str, np.ndarray]
    ) -> list[Any]:
        c = self._contract
        times = event_times(self.start_ms + index * self.interval_ms, c)
        prefix = f"agr-{self.seed}-"
        ids = [prefix + str(i) for i in index.tolist()]
        values: list[list[Any]] = []
        for name in FEATURES:
            col = cols[name]
            if name in _CATEGORICAL:
                column = self._codes[col].tolist()
            elif name in _INTEGER:
                column = col.astype(np.int64).tolist()
            else:
                column = col.tolist()
            if name in nulls:
                for j in np.flatnonzero(nulls[name]).tolist():
                    column[j] = None
            values.append(column)
        keys = (c.id_field, c.event_time_field, *FEATURES)
        return [
            LabeledRecord(dict(zip(keys, row, strict=True)), label)
            for row, label in zip(zip(ids, times, *values, strict=True), labels.tolist(), strict=True)
        ]


def _draw(rng: np.random.Generator, n: int) -> _Cols:
    """One chunk of undrifted features, integer-coded categoricals, money in cents."""
    salary = np.round(20_000.0 + 130_000.0 * rng.random(n), 2)
    commission = np.where(salary >= 75_000.0, 0.0, np.round(10_000.0 + 65_000.0 * rng.random(n), 2))
    age = rng.integers(20, 81, n)
    elevel = rng.integers(0, 5, n)
    car = rng.integers(1, 21, n)
    zipcode = rng.integers(0, 9, n)
    hvalue = np.round((9 - zipcode) * 100_000.0 * (0.5 + rng.random(n)), 2)
    hyears = rng.integers(1, 31, n)
    loan = np.round(500_000.0 * rng.random(n), 2)
    return {
        "salary": salary,
        "commission": commission,
        "age": age,
        "elevel": elevel,
        "car": car,
        "zipcode": zipcode,
        "hvalue": hvalue,
        "hyears": hyears,
        "loan": loan,
    }
