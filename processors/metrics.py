"""The processor's Prometheus metrics (DESIGN section 8), registered on an injected registry."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.metrics_core import HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

_LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_INFERENCE_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0)
_BATCH_BUCKETS = (1, 8, 32, 64, 128, 256, 512, 1024, 2048, 4096)
_GC_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0)


class ModelMetrics:
    """The metrics of a model slot (processors/model_slot.py): which version serves, its swaps, the fallback. A
    worker and an HTTP scoring server both keep them, under the same names, so dashboards and alerts read both."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.model_info = Gauge("driftline_model_info", "The model version serving (1)",
                                ["model", "version", "fingerprint"], registry=registry)  # fmt: skip
        self.model_swaps = Counter("driftline_model_swaps", "Model swaps, by outcome", ["outcome"], registry=registry)
        self.model_fallback = Gauge("driftline_model_fallback", "1 while the version serving is not production, which "
                                    "does not load (0 otherwise)", registry=registry)  # fmt: skip
        for outcome in ("succeeded", "failed"):
            self.model_swaps.labels(outcome=outcome)

    def set_model(self, model: str, version: int, fingerprint: str) -> None:
        """model_info shows exactly one series: the version serving now."""
        self.model_info.clear()
        self.model_info.labels(model=model, version=str(version), fingerprint=fingerprint).set(1)


class ProcessorMetrics(ModelMetrics):
    """Every metric one worker exposes. Create one per worker with its own registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__(registry)
        # process_* (memory, CPU, open fds, start time), python_info and python_gc_*, read at scrape time only
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
        p = "driftline_"
        self.records = Counter(p + "records", "Records handled, by outcome", ["outcome"], registry=registry)
        self.dead_letters = Counter(p + "dead_letters", "Records sent to the dead-letter topic", ["reason"],
                                    registry=registry)  # fmt: skip
        self.batch_size = Histogram(p + "batch_size", "Records per micro-batch", buckets=_BATCH_BUCKETS,
                                    registry=registry)  # fmt: skip
        self.inference_seconds = Histogram(
            p + "inference_seconds", "Preprocessing + scoring time per batch", buckets=_INFERENCE_BUCKETS,
            registry=registry,
        )  # fmt: skip
        self.batch_seconds = Histogram(
            p + "batch_seconds", "Whole batch time: validate, score, write Redis, send", buckets=_LATENCY_BUCKETS,
            registry=registry,
        )  # fmt: skip
        self.end_to_end_latency = BatchHistogram(
            p + "end_to_end_latency_seconds", "Record event time to its prediction written in Redis",
            buckets=_LATENCY_BUCKETS, registry=registry,
        )  # fmt: skip
        self.redis_retries = Counter(p + "redis_retries", "Failed Redis writes that were retried",
                                     registry=registry)  # fmt: skip
        self.feature_drift_psi = Gauge(p + "feature_drift_psi", "PSI of a feature over the drift window",
                                       ["feature"], registry=registry)  # fmt: skip
        self.feature_missing_ratio = Gauge(p + "feature_missing_ratio", "Missing share over the drift window",
                                           ["feature"], registry=registry)  # fmt: skip
        self.feature_unknown_ratio = Gauge(p + "feature_unknown_ratio", "Unseen-category share over the window",
                                           ["feature"], registry=registry)  # fmt: skip
        self.prediction_drift_psi = Gauge(p + "prediction_drift_psi", "PSI of the scores over the drift window",
                                          registry=registry)  # fmt: skip
        self.prediction_confidence_psi = Gauge(
            p + "prediction_confidence_psi", "PSI of the predictions' confidence (largest class probability) over the "
            "drift window (0 for a model whose profile has no confidence bins)", registry=registry,
        )  # fmt: skip
        self.drift_window_records = Gauge(p + "drift_window_records", "Records in the drift window",
                                          registry=registry)  # fmt: skip
        self.labeled_accuracy = Gauge(p + "labeled_accuracy", "Rolling accuracy on labeled records", ["version"],
                                      registry=registry)  # fmt: skip
        self.labels = Counter(p + "labels", "Label events, by outcome", ["outcome"], registry=registry)
        self.error_rate_changes = Counter(
            p + "error_rate_change", "Rises of a version's labeled error rate detected (ADWIN, driftline/change.py)",
            ["version"], registry=registry,
        )  # fmt: skip
        self.error_rate_change_position = Gauge(
            p + "error_rate_change_position", "Where the last detected rise began: a position in this worker's "
            "stream of the version's labeled records (0 = its first)", ["version"], registry=registry,
        )  # fmt: skip
        self.error_rate_change_time = Gauge(
            p + "error_rate_change_time_seconds", "Event time (unix s) of the record where the last rise began",
            ["version"], registry=registry,
        )  # fmt: skip
        self.error_rate_estimate = Gauge(p + "error_rate_estimate", "Error rate of the version over ADWIN's window",
                                         ["version"], registry=registry)  # fmt: skip
        self.consumer_lag = Gauge(p + "consumer_lag", "Records behind the log end, per assigned partition",
                                  ["topic", "partition"], registry=registry)  # fmt: skip
        self.consumer_last_poll = Gauge(
            p + "consumer_last_poll_timestamp_seconds", "When this worker's consume loop of a topic last came back "
            "for more (unix s): stale while its loop is stuck or gone, though records wait", ["topic"],
            registry=registry,
        )  # fmt: skip
        self.assigned_partitions = Gauge(p + "assigned_partitions", "Partitions of a topic assigned to this worker",
                                         ["topic"], registry=registry)  # fmt: skip
        self.gc_pause_seconds = Histogram(
            p + "gc_pause_seconds", "Garbage collections: each stops the event loop", ["generation"],
            buckets=_GC_BUCKETS, registry=registry,
        )  # fmt: skip
        for outcome in ("scored", "dead_letter"):
            self.records.labels(outcome=outcome)
        for outcome in ("matched", "unmatched"):
            self.labels.labels(outcome=outcome)


class BatchHistogram(Collector):
    """A Prometheus histogram that takes a whole batch of observations in one numpy call.

    For the per-record end-to-end latency: one ``Histogram.observe`` per record (each under a lock) was
    the one per-record loop left on the hot path. Exposed exactly as ``prometheus_client.Histogram`` exposes
    it (``_bucket`` with inclusive ``le`` bounds, ``_count``, ``_sum``), without the ``_created`` sample. Not
    thread-safe: a worker observes and serves ``/metrics`` on one event loop.
    """

    def __init__(self, name: str, documentation: str, *, buckets: Sequence[float],
                 registry: CollectorRegistry) -> None:  # fmt: skip
        bounds = np.array(buckets, dtype=np.float64)
        if bounds.size == 0 or not np.all(np.isfinite(bounds)) or np.any(np.diff(bounds) <= 0):
            raise ValueError(f"buckets must be finite and increasing, found {list(buckets)}")
        self.name = name
        self.documentation = documentation
        self._bounds = bounds
        self._counts = np.zeros(bounds.size + 1, dtype=np.int64)  # the last one: above every bound (+Inf)
        self._sum = 0.0
        registry.register(self)

    def observe_many(self, values: np.ndarray) -> None:
        values = np.asarray(values, dtype=np.float64)
        if values.size == 0:
            return
        # side="left": a value equal to a bound falls in that bound's bucket (le is inclusive)
        self._counts += np.bincount(np.searchsorted(self._bounds, values, side="left"), minlength=self._counts.size)
        self._sum += float(values.sum())

    def collect(self) -> Iterator[HistogramMetricFamily]:
        cumulative = np.cumsum(self._counts).tolist()
        les = [floatToGoString(b) for b in self._bounds.tolist()] + ["+Inf"]
        yield HistogramMetricFamily(self.name, self.documentation, buckets=list(zip(les, cumulative, strict=True)),
                                    sum_value=self._sum)  # fmt: skip


def watch_gc(pauses: Histogram, clock: Callable[[], float] = time.perf_counter) -> Callable[[], None]:
    """Time every garbage collection of this process into ``pauses``; returns the function that stops it."""
    started = [0.0]

    def callback(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = clock()
        else:
            pauses.labels(generation=str(info["generation"])).observe(clock() - started[0])

    gc.callbacks.append(callback)
    return lambda: gc.callbacks.remove(callback)
