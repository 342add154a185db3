"""The worker's drift bookkeeping in one place: the serving model's window, and the gauges it is published on.

A swap starts a new window against the new model's profile (``reset``); each scored batch adds its count vectors
(``add``); the gauges get the window's PSI and ratios at most once per ``interval`` seconds, and the 1 s timer
publishes what the last batches before a pause left behind (``publish``). Computing every feature's PSI after
every batch would cost more CPU than the gauges are worth: Prometheus reads them every few seconds.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping

import numpy as np

from driftline.drift import DriftWindow
from driftline.profile import Profile
from processors.metrics import ProcessorMetrics


class DriftMonitor:
    def __init__(self, metrics: ProcessorMetrics, *, size: int, min_records: int, interval: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self._m = metrics
        self._size = size
        self._min_records = min_records
        self._interval = interval
        self._clock = clock
        self._window: DriftWindow | None = None
        self._unpublished = False  # batches added since the last publication
        self._next = -math.inf

    @property
    def window(self) -> DriftWindow | None:
        return self._window

    def reset(self, profile: Profile) -> None:
        """A new model: its window starts empty, and the old model's values must not linger or be published late."""
        self._window = DriftWindow(profile, size=self._size, min_records=self._min_records)
        self._unpublished = False
        m = self._m
        for gauge in (m.feature_drift_psi, m.feature_missing_ratio, m.feature_unknown_ratio):
            gauge.clear()
        m.prediction_drift_psi.set(0)
        m.prediction_confidence_psi.set(0)
        m.drift_window_records.set(0)

    def add(self, counts: Mapping[str, np.ndarray]) -> None:
        """One scored batch's ``Profile.counts``; published now if the last publication is ``interval`` old."""
        if self._window is None:
            raise RuntimeError("no model's window: reset(profile) first")
        self._window.add(counts)
        self._unpublished = True
        if self._clock() >= self._next:
            self.publish()

    def publish(self) -> None:
        """Put the batches added since the last publication on the gauges (nothing new: nothing changes)."""
        if not self._unpublished or self._window is None:
            return
        self._unpublished = False
        self._next = self._clock() + self._interval
        m, window = self._m, self._window
        m.drift_window_records.set(window.records)
        snapshot = window.snapshot()
        if snapshot is None:
            return
        for name, value in snapshot.feature_psi.items():
            m.feature_drift_psi.labels(feature=name).set(value)
        for name, value in snapshot.missing_ratio.items():
            m.feature_missing_ratio.labels(feature=name).set(value)
        for name, value in snapshot.unknown_ratio.items():
            m.feature_unknown_ratio.labels(feature=name).set(value)
        m.prediction_drift_psi.set(snapshot.prediction_psi)
        if snapshot.confidence_psi is not None:
            m.prediction_confidence_psi.set(snapshot.confidence_psi)
