"""``driftline_consumer_group_lag{group, topic, partition}``: how far the processor groups are behind, read from Kafka.

Each worker reports ``driftline_consumer_lag`` for the partitions it holds, so that figure vanishes with the worker,
exactly when it matters. This exporter reads what Kafka itself knows (the groups' committed offsets and the log
ends) from outside the workers; the trainer service runs it, as the one process that is always on. The clients are
aiokafka's, on the trainer's event loop: a reading never blocks it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from driftline.kafka_clients import client_options
from driftline.settings import KafkaSettings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PartitionLag:
    group: str
    topic: str
    partition: int
    lag: int


def partition_lag(committed: int | None, start: int, end: int) -> int:
    """Records of one partition a group has still to consume: from its committed offset to the log end.

    A group with no committed offset (None or Kafka's -1) starts from the log start, as the workers do
    (``auto_offset_reset="earliest"``); so does one whose offset retention has already deleted.
    """
    position = start if committed is None or committed < 0 else max(committed, start)
    return max(0, end - position)


class ConsumerLagExporter(Collector):
    """Reads every ``interval_seconds`` the lag of each group on the topic it consumes (``groups``: group → topic),
    and serves the last reading on ``registry``.

    Kafka out of reach: the reading is dropped (a stale lag would mislead: absent means unknown), the outage is
    logged once, and the next interval tries again with new clients; it never raises out of ``run``.
    """

    def __init__(self, kafka: KafkaSettings, groups: Mapping[str, str], registry: CollectorRegistry, *,
                 interval_seconds: float, client_id: str = "driftline-lag") -> None:  # fmt: skip
        self._kafka = kafka
        self._groups = dict(groups)
        self._interval = interval_seconds
        self._timeout = kafka.request_timeout_ms / 1000
        self._client_id = client_id
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self.readings: list[PartitionLag] = []
        self.read_at: float | None = None  # unix time of the last reading
        self.failures = 0
        registry.register(self)

    async def read(self) -> list[PartitionLag]:
        """One reading of every partition of every group's topic; raises if Kafka does not answer."""
        admin, consumer = await self._connected()
        # Every topic's metadata: asking for a topic by name would create it where the broker auto-creates topics.
        partitions = {t["topic"]: sorted(p["partition"] for p in t["partitions"]) for t in await admin.describe_topics()
                      if t["error_code"] == 0}  # fmt: skip
        readings = []
        for group, topic in self._groups.items():
            if not partitions.get(topic):
                continue  # no such topic (yet): nothing to be behind on
            tps = [TopicPartition(topic, p) for p in partitions[topic]]
            committed = await admin.list_consumer_group_offsets(group, partitions=tps)
            starts = await consumer.beginning_offsets(tps)
            ends = await consumer.end_offsets(tps)
            for tp in tps:
                offset = committed[tp].offset if tp in committed else None
                readings.append(PartitionLag(group, topic, tp.partition, partition_lag(offset, starts[tp], ends[tp])))
        return readings

    async def run(self) -> None:
        """Read until cancelled."""
        failing = False
        try:
            while True:
                try:
                    readings = await asyncio.wait_for(self.read(), timeout=self._timeout)
                except Exception as exc:  # anything: the trainer must outlive Kafka and this exporter
                    self.readings, self.failures = [], self.failures + 1
                    await self._disconnect()
                    if not failing:
                        logger.warning("consumer lag: cannot read the groups' offsets from Kafka at %s (%s: %s); "
                                       "trying again every %.0fs", self._kafka.bootstrap_servers,
                                       exc.__class__.__name__, exc, self._interval)  # fmt: skip
                    failing = True
                else:
                    if failing:
                        logger.info("consumer lag: reading the groups' offsets again")
                    failing = False
                    self.readings, self.read_at = readings, time.time()
                await asyncio.sleep(self._interval)
        finally:
            await self._disconnect()

    def collect(self) -> Iterator[Metric]:
        lag = GaugeMetricFamily("driftline_consumer_group_lag", "Records a processor group has still to consume "
                                "(log end minus committed offset), read from Kafka by the trainer",
                                labels=["group", "topic", "partition"])  # fmt: skip
        for r in self.readings:
            lag.add_metric([r.group, r.topic, str(r.partition)], r.lag)
        yield lag
        if self.read_at is not None:
            yield GaugeMetricFamily("driftline_consumer_group_lag_timestamp_seconds",
                                    "When driftline_consumer_group_lag was last read (unix s)", value=self.read_at)
        yield CounterMetricFamily("driftline_consumer_group_lag_failures", "Lag readings that failed (Kafka out of "
                                  "reach)", value=self.failures)  # fmt: skip

    async def _connected(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        if self._admin is None or self._consumer is None:
            options = {"client_id": self._client_id, "request_timeout_ms": self._kafka.request_timeout_ms,
                       **client_options(self._kafka)}  # fmt: skip
            # kept before they start, so that a start that fails is closed too
            self._admin = AIOKafkaAdminClient(**options)
            self._consumer = AIOKafkaConsumer(enable_auto_commit=False, **options)
            await self._admin.start()
            await self._consumer.start()
        return self._admin, self._consumer

    async def _disconnect(self) -> None:
        admin, consumer, self._admin, self._consumer = self._admin, self._consumer, None, None
        if consumer is not None:
            with contextlib.suppress(Exception):
                await consumer.stop()
        if admin is not None:
            with contextlib.suppress(Exception):
                await admin.close()
