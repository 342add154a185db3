"""End-to-end latency read back from the topics: each prediction's send time against its record's event time, split at
the broker's append of the record (the benchmark's records topic keeps LogAppendTime)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from driftline.kafka_clients import client_options
from driftline.settings import KafkaSettings

if TYPE_CHECKING:
    from kafka import KafkaConsumer


def tail(kafka: KafkaSettings, partitions: dict[str, int]) -> KafkaConsumer:
    """A consumer (no group) on every partition of each ``{topic: partition count}``, at their ends as of now: it
    reads only what is written from here on."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(**client_options(kafka), enable_auto_commit=False)
    parts = [TopicPartition(topic, p) for topic, count in partitions.items() for p in range(count)]
    consumer.assign(parts)
    consumer.seek_to_end()
    for tp in parts:
        consumer.position(tp)  # resolve the end now, not at the first poll
    return consumer


def percentiles(ms: np.ndarray) -> dict[str, float]:
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    return {"p50_ms": float(p50), "p95_ms": float(p95), "p99_ms": float(p99), "max_ms": float(ms.max())}


def read_latencies(consumer: KafkaConsumer, predictions: str, n: int, *, timeout: float = 120) -> dict[str, Any]:
    """Read n predictions (on topic ``predictions``) and their n records (the consumer's other topic) from ``tail``'s
    consumer, then close it: the latency percentiles of every record seen on both, whole (event time → prediction
    sent) and in two halves (event time → broker append → prediction sent), and how many records they cover."""
    predicted: dict[bytes, tuple[int, int]] = {}  # id → (prediction sent, event time)
    appended: dict[bytes, int] = {}  # id → broker append time of its record
    deadline = time.monotonic() + timeout
    try:
        while (len(predicted) < n or len(appended) < n) and time.monotonic() < deadline:
            for tp, records in consumer.poll(timeout_ms=500).items():
                for r in records:
                    if tp.topic == predictions:
                        predicted[r.key] = (r.timestamp, orjson.loads(r.value)["event_time"])
                    else:
                        appended[r.key] = r.timestamp
    finally:
        consumer.close()
    keys = [k for k in predicted if k in appended]
    sent = np.array([predicted[k][0] for k in keys], dtype=np.float64)
    event = np.array([predicted[k][1] for k in keys], dtype=np.float64)
    log = np.array([appended[k] for k in keys], dtype=np.float64)
    return {
        "records": len(keys),
        **percentiles(sent - event),
        "producer_to_log": percentiles(log - event),
        "log_to_prediction": percentiles(sent - log),
    }
