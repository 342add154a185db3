"""The batch write to one real Redis server: every key with its TTL in one script, and with ``replica_acks`` a batch
that too few replicas acknowledge is not counted as written (the session's Redis has no replica)."""

from __future__ import annotations

import asyncio

from driftline.settings import Settings
from processors.redis_sink import RedisSink, get_many, redis_client
from stack import Stack


def test_a_batch_is_written_with_its_ttl_and_read_back_in_order(stack: Stack, settings: Settings, unique: str) -> None:
    redis_settings = settings.redis.model_copy(update={"key_prefix": f"test-{unique}:", "prediction_ttl_seconds": 600})
    keys = [f"test-{unique}:pred:{i}" for i in ("a", "b", "absent", "c")]

    async def scenario() -> tuple[list[bytes | None], int]:
        client = redis_client(redis_settings)
        try:
            assert await RedisSink(client, redis_settings).write(["a", "b", "c"], [b"1", b"2", b"3"],
                                                                 stopping=lambda: False)  # fmt: skip
            values = await get_many(client, keys)
            ttl = await client.ttl(keys[0])
            await client.delete(*keys)
            return values, ttl
        finally:
            await client.aclose()

    values, ttl = asyncio.run(scenario())
    assert values == [b"1", b"2", None, b"3"]
    assert 590 <= ttl <= 600


def test_without_the_replicas_asked_for_a_batch_is_retried_and_never_counted(stack: Stack, settings: Settings,
                                                                             unique: str) -> None:  # fmt: skip
    redis_settings = settings.redis.model_copy(update={"key_prefix": f"test-{unique}:", "replica_acks": 1,
                                                       "replica_ack_timeout_ms": 50})  # fmt: skip
    retries: list[Exception] = []

    async def scenario() -> bool:
        client = redis_client(redis_settings)
        try:
            sink = RedisSink(client, redis_settings, on_retry=retries.append, max_backoff=0.05)
            written = await sink.write(["a"], [b"1"], stopping=lambda: len(retries) >= 3)
            await client.delete(f"test-{unique}:pred:a")
            return written
        finally:
            await client.aclose()

    assert asyncio.run(scenario()) is False  # the caller would not acknowledge the batch
    assert len(retries) == 3 and all("fewer than 1 replica(s)" in str(exc) for exc in retries), retries
