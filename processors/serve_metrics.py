"""The metrics of ``driftline serve``, on an injected registry.

``model_info``, ``model_swaps_total`` and ``model_fallback`` are the workers' own (same names, same meaning,
kept by the same ``ModelSlot``), so the model dashboards and the swap alerts read a server like a worker.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, PlatformCollector, ProcessCollector

from processors.metrics import ModelMetrics

_LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class ServeMetrics(ModelMetrics):
    """Every metric one HTTP scoring server exposes. One per server, with its own registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__(registry)
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        p = "driftline_serve_"
        self.requests = Counter(p + "requests", "HTTP scoring requests answered, by status code", ["status"],
                                registry=registry)  # fmt: skip
        self.records = Counter(p + "records", "Records of scoring requests, by outcome", ["outcome"],
                               registry=registry)  # fmt: skip
        self.rejections = Counter(p + "rejections", "Records refused, by reason code", ["reason"], registry=registry)
        self.batch_size = Histogram(p + "batch_size", "Records per model call (concurrent requests batched)",
                                    buckets=_BATCH_BUCKETS, registry=registry)  # fmt: skip
        self.request_seconds = Histogram(p + "request_seconds", "Time to answer a scoring request",
                                         buckets=_LATENCY_BUCKETS, registry=registry)  # fmt: skip
        for outcome in ("scored", "rejected"):
            self.records.labels(outcome=outcome)
