"""The labels join on the real Redis, on an injected clock: early labels wait, are looked up again only when due,
and are counted unmatched once their grace period ends."""

from __future__ import annotations

import asyncio

import orjson
from prometheus_client import CollectorRegistry

from driftline.messages import encode_label_event, prediction_key
from driftline.settings import Settings
from processors.labels import LabelJoin
from processors.metrics import ProcessorMetrics
from processors.redis_sink import redis_client
from stack import Stack


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def label(record_id: str, value: int) -> bytes:
    return encode_label_event(record_id, value, 0)


def test_early_labels_wait_and_are_looked_up_only_when_due(stack: Stack, settings: Settings, unique: str) -> None:
    redis_settings = settings.redis.model_copy(update={"key_prefix": f"test-{unique}:"})
    registry = CollectorRegistry()
    metrics = ProcessorMetrics(registry)
    clock = Clock()

    def count(outcome: str) -> float:
        return registry.get_sample_value("driftline_labels_total", {"outcome": outcome}) or 0.0

    async def scenario() -> None:
        client = redis_client(redis_settings)
        join = LabelJoin(client, redis_settings, metrics, grace_seconds=10.0, retry_seconds=1.0, clock=clock)
        try:
            prediction = {"id": "a", "version": 3, "label": 1, "score": 0.9}
            await client.set(prediction_key(redis_settings.key_prefix, "a"), orjson.dumps(prediction))
            # "a" is scored already; "b" and "c" arrive before their predictions
            assert await join.handle([label("a", 1), label("b", 0), label("c", 1)])
            assert (count("matched"), join.pending) == (1, 2)

            for record_id, predicted in (("b", 0), ("c", 0)):
                document = {"id": record_id, "version": 3, "label": predicted, "score": 0.1}
                await client.set(prediction_key(redis_settings.key_prefix, record_id), orjson.dumps(document))
            clock.now += 0.5
            assert await join.handle([])  # not due yet: not looked up
            assert (count("matched"), join.pending) == (1, 2)
            clock.now += 0.6
            assert await join.handle([])
            assert (count("matched"), join.pending) == (3, 0)
            assert registry.get_sample_value("driftline_labeled_accuracy", {"version": "3"}) == 2 / 3

            assert await join.handle([label("never", 1)])  # a label whose record is never scored
            for _ in range(12):
                clock.now += 1.0
                assert await join.handle([])
            assert (count("unmatched"), join.pending) == (1, 0)
        finally:
            keys = [prediction_key(redis_settings.key_prefix, x) for x in ("a", "b", "c")]
            await client.delete(*keys)
            await client.aclose()

    asyncio.run(scenario())


def test_due_labels_are_looked_up_a_bounded_number_at_a_time(stack: Stack, settings: Settings, unique: str) -> None:
    redis_settings = settings.redis.model_copy(update={"key_prefix": f"test-{unique}:"})
    registry = CollectorRegistry()
    clock = Clock()
    ids = [f"r{i}" for i in range(250)]

    async def scenario() -> None:
        client = redis_client(redis_settings)
        join = LabelJoin(client, redis_settings, ProcessorMetrics(registry), retry_seconds=1.0,
                         due_per_lookup=100, clock=clock)  # fmt: skip
        lookups: list[int] = []
        mget = client.mget

        async def counted_mget(keys: list[str]) -> list[bytes | None]:
            lookups.append(len(keys))
            return await mget(keys)

        client.mget = counted_mget  # type: ignore[method-assign]  # counts the real lookups
        try:
            assert await join.handle([label(i, 1) for i in ids])  # all early: none scored yet
            assert join.pending == len(ids)
            for record_id in ids:
                document = {"id": record_id, "version": 1, "label": 1, "score": 0.9}
                await client.set(prediction_key(redis_settings.key_prefix, record_id), orjson.dumps(document))
            clock.now += 1.0
            assert join.has_due()
            await join.handle_due()
            # each record's prediction key and its shadow key (a staging trial's), in the same MGET: 2 keys a label
            assert lookups == [500, 200, 200, 100]
            assert join.pending == 0 and not join.has_due()
            assert registry.get_sample_value("driftline_labels_total", {"outcome": "matched"}) == len(ids)
        finally:
            await client.delete(*[prediction_key(redis_settings.key_prefix, x) for x in ids])
            await client.aclose()

    asyncio.run(scenario())
