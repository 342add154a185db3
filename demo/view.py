"""The demo's live view: each worker's version, counts, recent latency and accuracy; the drift; the loop's steps."""

from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING

from rich.console import Group
from rich.table import Table

from harness.scrape import Samples, latency_since, quantile_ms, serving_version

if TYPE_CHECKING:
    from demo.run import Progress


def scored_per_second(now: Samples, before: Samples, seconds: float) -> float | None:
    """Records scored per second between two scrapes ``seconds`` apart, from ``driftline_records_total``; None
    without a span to measure or across a counter reset (a restarted worker)."""
    key = ("driftline_records_total", (("outcome", "scored"),))
    if seconds <= 0 or key not in before:
        return None
    scored = now.get(key, 0.0) - before[key]
    return scored / seconds if scored >= 0 else None


def live_view(p: Progress, workers: dict[int, Samples], history: deque[tuple[float, dict[int, Samples]]]) -> Group:
    """``history`` holds the last seconds' scrapes, so the latency shown is that of recent records."""
    elapsed = time.monotonic() - p.started
    table = Table("worker", "version", "records", "records/s", "dead letters", "p50 ms", "p99 ms", "accuracy",
                  box=None)  # fmt: skip
    psi: dict[str, float] = {}
    for index, samples in workers.items():
        version = serving_version(samples)
        scored = samples.get(("driftline_records_total", (("outcome", "scored"),)), 0)
        dead = samples.get(("driftline_records_total", (("outcome", "dead_letter"),)), 0)
        accuracy = samples.get(("driftline_labeled_accuracy", (("version", str(version)),))) if version else None
        before = history[0][1].get(index, {}) if history else {}
        recent = latency_since(samples, before) if history else samples
        rate = scored_per_second(samples, before, history[-1][0] - history[0][0] if history else 0.0)
        p50, p99 = quantile_ms(recent, 0.5), quantile_ms(recent, 0.99)
        table.add_row(str(index), str(version or "-"), f"{scored:,.0f}", f"{rate:,.0f}" if rate is not None else "-",
                      f"{dead:,.0f}", f"≤{p50:.0f}" if p50 else "-", f"≤{p99:.0f}" if p99 else "-",
                      f"{accuracy:.3f}" if accuracy is not None else "-")  # fmt: skip
        for (name, labels), value in samples.items():
            if name == "driftline_feature_drift_psi":
                feature = dict(labels)["feature"]
                psi[feature] = max(psi.get(feature, 0.0), value)
    drift = Table("feature", "PSI", "", box=None)
    for feature, value in sorted(psi.items()):
        bar = "█" * min(40, int(value / 0.025))
        colour = "red" if value > 0.25 else ("yellow" if value > 0.1 else "green")
        drift.add_row(feature, f"{value:.3f}", f"[{colour}]{bar}[/]")
    steps = Table("step", "after", box=None)
    onset = p.drift_onset
    for name, when in (("drift onset", p.drift_onset), ("alert fired", p.alert_fired),
                       ("new model promoted", p.promoted_at), ("every worker serving it", p.all_serving_new),
                       ("accuracy recovered", p.recovered_at)):  # fmt: skip
        if when is None:
            after = "-"
        else:
            after = f"{when - onset:+.0f}s from onset" if onset else f"{when - p.started:.0f}s"
        steps.add_row(name, after)
    return Group(f"[bold]elapsed {elapsed:.0f}s[/]", table, drift, steps)
