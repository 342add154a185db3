"""The producer's Kafka client: librdkafka (confluent-kafka), idempotent, acks=all, lz4, batched.

librdkafka builds and sends the batches on threads of its own, in C, outside the GIL, so the producer takes a
fraction of the CPU it took with kafka-python (docs/performance.md). Delivery reports are asked for failures only,
so a record that is delivered costs no Python call; every failure reaches ``on_error``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from confluent_kafka import KafkaException, Producer

from driftline.errors import DriftlineError
from driftline.kafka_clients import librdkafka_config
from driftline.settings import KafkaSettings

logger = logging.getLogger(__name__)

POLL_EVERY = 1000  # sends between two services of the delivery reports (failures only)


class KafkaSender:
    """Sends keyed records. Every failure, at the send, in a delivery report or a fatal client error, goes to
    ``on_error(message, records)`` with how many records it cost (0 for a fatal error: those records fail too)."""

    def __init__(self, kafka: KafkaSettings, *, on_error: Callable[[str, int], None],
                 client_id: str = "driftline-producer", linger_ms: int = 10) -> None:  # fmt: skip
        self.kafka = kafka
        self._on_error = on_error
        self._sent_since_poll = 0
        self._producer = Producer({
            **librdkafka_config(kafka),
            "client.id": client_id,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": linger_ms,
            "batch.size": 256 * 1024,
            "compression.type": "lz4",
            "partitioner": "murmur2_random",  # what Kafka's Java producer does with a key (random without one)
            "request.timeout.ms": kafka.request_timeout_ms,
            "delivery.timeout.ms": 120_000,
            "delivery.report.only.error": True,
            "on_delivery": self._delivered,
            "error_cb": self._client_error,
            "logger": logger,  # librdkafka's own log lines, through logging rather than straight to stderr
        })  # fmt: skip

    def _delivered(self, err: object, message: object) -> None:
        if err is not None:
            self._on_error(f"delivery failed: {err}", 1)

    def _client_error(self, err: object) -> None:
        if getattr(err, "fatal", lambda: False)():  # the idempotent producer cannot go on; its records fail too
            self._on_error(f"fatal producer error: {err}", 0)
            logger.error("kafka producer: %s", err)
        else:  # librdkafka retries; its own log line (through ``logger``) has already said what happened
            logger.debug("kafka producer: %s", err)

    def partition_count(self, topic: str, *, timeout: float = 30.0, settle: float = 5.0) -> int:
        """The topic's partition count, from the cluster's metadata (a clear error if it is missing).

        A topic created a moment ago may be unknown for up to ``settle`` seconds to the broker asked (on a cluster,
        each broker learns of it from the controller in its own time), so its absence is asked again until then."""
        deadline = time.monotonic() + settle
        while True:
            try:
                metadata = self._producer.list_topics(topic, timeout=timeout)
            except KafkaException as exc:
                raise DriftlineError(f"cannot reach Kafka at {self.kafka.bootstrap_servers}: {exc}") from exc
            found = metadata.topics.get(topic)
            error = found.error if found is not None else None
            if error is None and found is not None and found.partitions:
                return len(found.partitions)
            if time.monotonic() >= deadline:
                raise DriftlineError(f"topic {topic!r} is not available: {error or 'no partitions'} "
                                     "(`driftline topics create`?)")  # fmt: skip
            time.sleep(0.2)

    def send(self, topic: str, key: bytes | None, value: bytes) -> None:
        """Queue one record, on the partition librdkafka's partitioner gives its key; waits while librdkafka's queue
        is full. A record refused outright is a failure."""
        while True:
            try:
                self._producer.produce(topic, value, key)
                break
            except BufferError:  # the local queue is full: let librdkafka send, then try again
                self._producer.poll(0.05)
            except KafkaException as exc:  # e.g. larger than message.max.bytes, an unknown partition
                self._on_error(f"send refused: {exc.args[0] if exc.args else exc}", 1)
                return
        self._sent_since_poll += 1
        if self._sent_since_poll >= POLL_EVERY:
            self._sent_since_poll = 0
            self._producer.poll(0)

    def flush(self, timeout: float) -> int:
        """Wait for every queued record; returns (and reports as failed) how many were not delivered in time."""
        left = int(self._producer.flush(timeout))
        if left:
            self._on_error(f"{left} records not delivered within {timeout:.0f} s", left)
        return left

    def close(self, timeout: float = 30.0) -> None:
        """Deliver what is still queued. Failures are reported as they come; records still queued at the end are
        logged, not counted again (``flush`` has already counted them)."""
        left = int(self._producer.flush(timeout))
        if left:
            logger.warning("closing with %d records not delivered within %.0f s", left, timeout)
