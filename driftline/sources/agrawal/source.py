"""The Agrawal et al. (1993) loan-application stream, seeded and vectorised, with drift switched on by index.

Features are drawn as in :mod:`~driftline.sources.agrawal.features` and labelled by one of the ten functions
of :mod:`~driftline.sources.agrawal.functions`. Label noise flips a label with probability ``noise``.
Categoricals are emitted as strings.

Every random draw is made whether or not a drift is active, so a drifted stream equals the undrifted one
with the same seed on every record before the drift starts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from driftline.contract import Contract, FeatureKind, builtin_contract
from driftline.errors import DataError
from driftline.sources.agrawal.features import CATEGORICAL, FEATURES, INTEGER, NUMERIC, Columns, draw
from driftline.sources.agrawal.functions import FUNCTIONS, agrawal_labels
from driftline.sources.base import LabeledRecord, Source, event_times
from driftline.sources.drift import DriftKind, DriftSpec, parse_drift

logger = logging.getLogger(__name__)

_CHUNK = 4096  # records generated per vectorised step; part of what a seed means, so fixed


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
            (CATEGORICAL[str(d.feature)][1] + d.count for d in self._of(DriftKind.NEW_CATEGORIES)),
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
            want = FeatureKind.NUMERIC if f.name in NUMERIC else FeatureKind.CATEGORICAL
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
                if d.feature not in NUMERIC:
                    raise DataError(
                        f"drift {d}: covariate drift needs a numeric feature, one of {list(NUMERIC)}"
                    )
                lo, hi = sorted(x * d.scale + d.shift for x in NUMERIC[d.feature])
                f = c.feature(d.feature)
                if (f.min is not None and lo < f.min) or (f.max is not None and hi > f.max):
                    raise DataError(
                        f"drift {d} moves {d.feature} to [{lo:g}, {hi:g}], outside the contract's "
                        f"bounds [{f.min}, {f.max}]; every drifted record would be rejected as out_of_range"
                    )
            elif d.kind is DriftKind.NEW_CATEGORIES and d.feature not in CATEGORICAL:
                raise DataError(
                    f"drift {d}: new categories need a categorical feature, one of {list(CATEGORICAL)}"
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
        cols = draw(rng, n)
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
                cols[name] = np.where(active, np.round(moved, 0 if name in INTEGER else 2), cols[name])
            elif d.kind is DriftKind.NEW_CATEGORIES:
                hit = active & (u < d.fraction)
                cols[name] = np.where(hit, CATEGORICAL[name][1] + 1 + pick, cols[name])
            else:
                nulls[name] = nulls.get(name, np.zeros(n, dtype=bool)) | (active & (u < d.fraction))
        labels = np.empty(n, dtype=np.int64)
        for f in np.unique(function).tolist():
            mask = function == f
            labels[mask] = agrawal_labels(cols, f)[mask]
        labels ^= flip
        return self._assemble(cols, labels, index, nulls)

    def _assemble(
        self, cols: Columns, labels: np.ndarray, index: np.ndarray, nulls: dict[str, np.ndarray]
    ) -> list[Any]:
        c = self._contract
        times = event_times(self.start_ms + index * self.interval_ms, c)
        prefix = f"agr-{self.seed}-"
        ids = [prefix + str(i) for i in index.tolist()]
        values: list[list[Any]] = []
        for name in FEATURES:
            col = cols[name]
            if name in CATEGORICAL:
                column = self._codes[col].tolist()
            elif name in INTEGER:
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
