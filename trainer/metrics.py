"""The trainer's Prometheus metrics (DESIGN section 8), on an injected registry."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)

from trainer.webhook import RETRAIN_ALERTS


class TrainerMetrics:
    """Every metric the trainer service exposes, on its own registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        # process_* (memory, CPU, open fds, start time), python_info and python_gc_*, read at scrape time only
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
        p = "driftline_"
        self.alerts_received = Counter(p + "alerts_received", "Alerts received from Alertmanager", ["alertname"],
                                       registry=registry)  # fmt: skip
        self.retrains = Counter(p + "retrains", "Retrains, by outcome", ["outcome"], registry=registry)
        self.retrain_duration = Histogram(
            p + "retrain_duration_seconds", "Time of one retrain",
            buckets=(5, 10, 20, 30, 60, 90, 120, 180, 300, 600), registry=registry,
        )  # fmt: skip
        self.model_eval = Gauge(p + "model_eval", "Holdout metrics of the models compared at the last retrain",
                                ["version", "metric"], registry=registry)  # fmt: skip
        for outcome in ("promoted", "staged", "rejected", "failed", "skipped"):
            self.retrains.labels(outcome=outcome)
        for alertname in sorted(RETRAIN_ALERTS):
            self.alerts_received.labels(alertname=alertname)
