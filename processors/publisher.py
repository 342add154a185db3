"""Predictions and dead letters onto Kafka: a batch's predictions as one Kafka record batch per partition.

Sending each prediction on its own (faust's ``producer.send``) costs a future, a partitioner call (murmur2 in pure
Python) and an accumulator append per record, a sizeable share of the worker's CPU. Here a batch's
predictions are grouped by partition and each group is built into one record batch (aiokafka's C builder) and
handed over with ``send_batch``. A prediction goes to the partition its record came from when the record was keyed
by its id and the two topics have the same number of partitions: the record was placed there by the hash of the
same key, so this is the partition the key's hash gives, without hashing it again. Otherwise the key is hashed
(murmur2, as Kafka's own producers do).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence

from aiokafka import AIOKafkaProducer

from driftline.kafka_clients import client_options
from driftline.settings import KafkaSettings
from processors.partitioning import key_partition

MAX_BATCH_BYTES = 512 * 1024  # under the broker's default message.max.bytes (1 MiB), compressed or not


class Publisher:
    """Owns the worker's Kafka producer (acks=all, zstd) for the predictions and dead-letter topics."""

    def __init__(self, kafka: KafkaSettings, *, client_id: str) -> None:
        self._options = {
            "client_id": client_id,
            "acks": "all",
            # zstd, not lz4: aiokafka compresses lz4 at level 9 (its high-compression mode), which costs more CPU
            # than zstd at its default level and compresses prediction documents less (docs/performance.md).
            "compression_type": "zstd",
            "linger_ms": 5,
            "max_batch_size": MAX_BATCH_BYTES,
            "max_request_size": 2 * MAX_BATCH_BYTES,
            "request_timeout_ms": kafka.request_timeout_ms,
            **client_options(kafka),
        }
        self._started: AIOKafkaProducer | None = None
        self._partitions: dict[str, int] = {}

    @property
    def _producer(self) -> AIOKafkaProducer:
        if self._started is None:
            raise RuntimeError("the publisher is not started")
        return self._started

    async def start(self) -> None:
        """Connect (aiokafka producers belong to the running event loop, so they are made here)."""
        self._started = AIOKafkaProducer(**self._options)
        await self._started.start()

    async def stop(self) -> None:
        producer, self._started = self._started, None
        if producer is not None:
            await producer.stop()  # sends what is queued first

    async def partition_count(self, topic: str) -> int:
        if topic not in self._partitions:
            self._partitions[topic] = len(await self._producer.partitions_for(topic))
        return self._partitions[topic]

    async def send_all(
        self,
        topic: str,
        keys: Sequence[bytes],
        values: Sequence[bytes],
        source_partitions: Sequence[int | None],
        source_partition_count: int,
    ) -> Awaitable[object]:
        """Queue every (key, value) on ``topic``; the result completes when Kafka has acknowledged all of them.

        ``source_partitions[i]`` is the partition of the record keyed by ``keys[i]``, or None if that record had
        another key (its partition then says nothing about this key's hash).
        """
        count = await self.partition_count(topic)
        follow_source = count == source_partition_count
        groups: dict[int, list[int]] = {}
        for i, (key, source) in enumerate(zip(keys, source_partitions, strict=True)):
            partition = source if follow_source and source is not None else key_partition(key, count)
            groups.setdefault(partition, []).append(i)
        sent: list[asyncio.Future[object]] = []
        for partition, indexes in groups.items():
            batch = self._producer.create_batch()
            for i in indexes:
                if batch.append(key=keys[i], value=values[i], timestamp=None) is None:  # full: send it, start anew
                    sent.append(await self._producer.send_batch(batch, topic, partition=partition))
                    batch = self._producer.create_batch()
                    batch.append(key=keys[i], value=values[i], timestamp=None)
            sent.append(await self._producer.send_batch(batch, topic, partition=partition))
        return asyncio.gather(*sent)

    async def send(
        self, topic: str, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]
    ) -> Awaitable[object]:
        """Queue one record (a dead letter); the result completes when Kafka has acknowledged it."""
        return await self._producer.send(topic, value, key=key, headers=headers)
