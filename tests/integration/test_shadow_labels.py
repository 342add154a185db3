"""The label join on the real Redis compares the staging version's shadow predictions with production's on the same
records: live accuracy per version, and the paired outcomes the trainer's promotion test reads."""

from __future__ import annotations

import asyncio

import orjson
from prometheus_client import CollectorRegistry

from driftline.messages import encode_label_event, prediction_key, shadow_key, shadow_pairs_key
from driftline.settings import Settings
from processors.labels import LabelJoin
from processors.metrics import ProcessorMetrics
from processors.redis_sink import redis_client
from stack import Stack
from trainer.staging import read_pairs


def test_shadow_predictions_are_joined_and_paired(stack: Stack, settings: Settings, unique: str) -> None:
    redis_settings = settings.redis.model_copy(update={"key_prefix": f"test-{unique}:"})
    registry = CollectorRegistry()
    prefix = redis_settings.key_prefix
    # record: (production's label, staging's label or None, true label)
    records = {"a": (1, 1, 1), "b": (0, 1, 1), "c": (1, 0, 1), "d": (0, 0, 1), "e": (1, 1, 1), "f": (0, None, 0)}

    async def scenario() -> None:
        client = redis_client(redis_settings)
        join = LabelJoin(client, redis_settings, ProcessorMetrics(registry), model="credit")
        try:
            for rid, (production, staging, _) in records.items():
                document = {"id": rid, "version": 3, "label": production}
                await client.set(prediction_key(prefix, rid), orjson.dumps(document))
                if staging is not None:
                    document = {"id": rid, "version": 4, "label": staging}
                    await client.set(shadow_key(prefix, rid), orjson.dumps(document))
            assert await join.handle([encode_label_event(rid, truth, 0) for rid, (_, _, truth) in records.items()])
        finally:
            await client.aclose()

    asyncio.run(scenario())
    assert registry.get_sample_value("driftline_labeled_accuracy", {"version": "3"}) == 4 / 6
    assert registry.get_sample_value("driftline_labeled_accuracy", {"version": "4"}) == 3 / 5
    pairs = read_pairs(settings.redis.model_copy(update={"key_prefix": prefix}), "credit", 3, 4)
    assert (pairs.both_right, pairs.both_wrong, pairs.staging_only, pairs.production_only) == (2, 1, 1, 1)
    assert read_pairs(redis_settings, "credit", 3, 5).total == 0
    assert shadow_pairs_key(prefix, "credit", 3, 4).startswith(prefix)
