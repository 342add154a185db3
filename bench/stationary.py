"""`make bench-loop`'s stationary part, faster than real time: false alarms of the workers' detectors.

The production model scores a long stationary Agrawal stream (function 1, 5 % label noise, as the demo's first
model was trained on) in batches, exactly as a worker does (``ModelBundle.predict``). Every labeled error goes to a
one-sided ADWIN with the workers' settings, and every batch's counts to a drift window with the workers' size. A
false alarm is an ADWIN detection, or any feature's (or the prediction's) PSI above the drift threshold for as long
as the alert rule's ``for:`` (converted to records at the demo's rate). No Kafka: this measures the statistics the
alert rules read, on many more records than a real-time run could stream.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from driftline.bundle import ModelBundle
from driftline.change import Adwin
from driftline.drift import DriftWindow
from driftline.settings import ProcessorSettings
from driftline.sources.agrawal.features import CATEGORICAL, draw
from driftline.sources.agrawal.functions import agrawal_labels


@dataclass(frozen=True)
class StationaryRun:
    records: int = 10_000_000
    chunk: int = 100_000  # records generated and scored at once
    batch: int = 1_000  # records per drift-window batch (a worker's micro-batch)
    psi_threshold: float = 0.25
    psi_for_records: int = 20_000  # the PSI rule's `for:` at the demo's rate (10 s at 2,000 records/s)
    noise: float = 0.05
    seed: int = 1


def stationary_false_alarms(bundle: ModelBundle, processor: ProcessorSettings, run: StationaryRun) -> dict[str, Any]:
    """Counts of false alarms over ``run.records`` stationary records, and how long the run took."""
    started = time.perf_counter()
    rng = np.random.default_rng(run.seed)
    detector = Adwin(processor.error_change_delta, min_window_length=processor.error_change_min_window,
                     grace_period=processor.error_change_grace, one_sided=True)  # fmt: skip
    window = DriftWindow(bundle.profile, size=processor.drift_window, min_records=processor.drift_min_records)
    adwin_alarms: list[int] = []
    psi_alarms: list[int] = []
    above_since: int | None = None  # the record from which the PSI has stayed above the threshold
    max_psi = 0.0
    errors = 0
    seen = 0
    while seen < run.records:
        n = min(run.chunk, run.records - seen)
        cols = draw(rng, n)
        labels = agrawal_labels(cols, 1) ^ (rng.random(n) < run.noise)
        columns = {name: (values.astype(str).astype(object) if name in CATEGORICAL else values.astype(np.float64))
                   for name, values in cols.items()}  # fmt: skip
        scored = bundle.predict(columns)
        wrong = np.asarray(scored.labels, dtype=np.int64) != labels
        errors += int(wrong.sum())
        for i, x in enumerate(wrong.tolist()):
            detector.update(1.0 if x else 0.0)
            if detector.drift_detected:
                adwin_alarms.append(seen + i)
        for start in range(0, n, run.batch):
            part = slice(start, start + run.batch)
            window.add(bundle.profile.counts({k: v[part] for k, v in columns.items()}, scored.scores[part]))
            snapshot = window.snapshot()
            if snapshot is None:
                continue
            psi = max(max(snapshot.feature_psi.values()), snapshot.prediction_psi)
            max_psi = max(max_psi, psi)
            position = seen + start + run.batch
            if psi <= run.psi_threshold:
                above_since = None
            elif above_since is None:
                above_since = position
            elif position - above_since >= run.psi_for_records and (not psi_alarms or psi_alarms[-1] < above_since):
                psi_alarms.append(position)
        seen += n
    return {
        "records": seen,
        "error_rate": errors / seen,
        "adwin_false_alarms": len(adwin_alarms),
        "adwin_alarm_positions": adwin_alarms[:20],
        "psi_false_alarms": len(psi_alarms),
        "max_psi": max_psi,
        "adwin_delta": processor.error_change_delta,
        "psi_threshold": run.psi_threshold,
        "psi_for_records": run.psi_for_records,
        "seconds": time.perf_counter() - started,
    }
