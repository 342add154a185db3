"""kafka-python producer → aiokafka consumer group → Redis, 10,000 records, every id accounted for."""

from __future__ import annotations

import asyncio
import time

import orjson
import redis
from aiokafka import AIOKafkaConsumer, TopicPartition
from kafka import KafkaProducer

from driftline.kafka_clients import client_options
from driftline.settings import KafkaSettings, Settings
from driftline.topics import Topics
from processors.redis_sink import redis_client as async_redis_client

N = 10_000


def _produce(kafka: KafkaSettings, topic: str, n: int) -> None:
    producer = KafkaProducer(
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        compression_type="lz4",
        **client_options(kafka),
    )
    try:
        futures = [
            producer.send(topic, key=f"id-{i}".encode(), value=orjson.dumps({"id": f"id-{i}", "x": i}))
            for i in range(n)
        ]
        producer.flush(timeout=60)
        for future in futures:
            future.get(timeout=10)  # raises if any send failed
    finally:
        producer.close(timeout=10)


async def _consume_to_redis(
    kafka: KafkaSettings, topic: str, group: str, client: redis.asyncio.Redis, n: int
) -> int:
    consumer = AIOKafkaConsumer(
        topic,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **client_options(kafka),
    )
    await consumer.start()
    written = 0
    try:
        deadline = time.monotonic() + 120
        while written < n and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=2000)
            for records in batches.values():
                mapping = {f"roundtrip:{topic}:{r.key.decode()}": r.value for r in records}
                async with client.pipeline(transaction=False) as pipe:
                    pipe.mset(mapping)
                    for key in mapping:
                        pipe.expire(key, 600)
                    await pipe.execute()
                written += len(records)
            if batches:
                await consumer.commit()  # only after the Redis write succeeded
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends = await consumer.end_offsets(partitions)
        committed = {tp: await consumer.committed(tp) for tp in partitions}
        assert committed == ends, f"committed offsets {committed} lag the log ends {ends}"
        return written
    finally:
        await consumer.stop()


def test_producer_consumer_group_redis_round_trip(
    settings: Settings, kafka_settings: KafkaSettings, topics: Topics, unique: str, redis_client: redis.Redis
) -> None:
    topic = topics.records
    _produce(kafka_settings, topic, N)

    async def run() -> int:
        client = async_redis_client(settings.redis)
        try:
            return await _consume_to_redis(kafka_settings, topic, f"test-{unique}", client, N)
        finally:
            await client.aclose()

    written = asyncio.run(run())
    assert written == N
    keys = [f"roundtrip:{topic}:id-{i}" for i in range(N)]
    values = redis_client.mget(keys)
    missing = [k for k, v in zip(keys, values, strict=True) if v is None]
    assert not missing, f"{len(missing)} ids never reached Redis, e.g. {missing[:5]}"
    assert {orjson.loads(v)["x"] for v in values} == set(range(N))
    redis_client.delete(*keys)
