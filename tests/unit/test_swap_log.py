"""The worker's swap records: one per version change, naming where in each held partition the new version began."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry

from driftline.messages import ModelSwap, decode_model_swap
from driftline.topics import Topics
from processors.metrics import ProcessorMetrics
from processors.pipeline import BatchPipeline
from processors.swap_log import SwapLog, first_offsets
from tests.unit.test_batch_pipeline import FakeDrift, FakeSender, FakeSink, Message, _slot


def test_first_offsets_of_a_batch() -> None:
    batch = [Message(None, b"", 2, 40), Message(None, b"", 0, 7), Message(None, b"", 2, 41)]
    assert first_offsets(batch) == {2: 40, 0: 7}  # type: ignore[arg-type]


def test_a_swap_is_recorded_once_with_the_first_offset_the_new_version_scored_in_every_held_partition() -> None:
    metrics, sender = ProcessorMetrics(CollectorRegistry()), FakeSender()
    held = {0: 100, 1: 200, 2: 300}  # the consumer's next offsets, after each batch it handed over

    async def positions() -> dict[int, int]:
        return dict(held)

    async def scenario() -> None:
        slot = _slot(metrics, [])
        swaps = SwapLog(sender, topic="t.model-swaps", records_topic="t.records", worker="host.0", positions=positions)
        pipeline = BatchPipeline(slot=slot, drift=FakeDrift(), sink=FakeSink(), sender=sender, topics=Topics("t."),  # type: ignore[arg-type]
                                 metrics=metrics, stopping=lambda: False, swaps=swaps)  # fmt: skip
        await slot.load(1)
        for batch in ([Message(b"a", b"{}", 0, 90)], [Message(b"b", b"{}", 1, 150)]):
            acknowledged = await pipeline(batch)  # type: ignore[arg-type]
            assert acknowledged is not None
            await acknowledged
        await slot.load(2)
        await pipeline([Message(b"c", b"{}", 2, 250), Message(b"d", b"{}", 2, 251)])  # type: ignore[arg-type]
        await pipeline([Message(b"e", b"{}", 0, 100)])  # type: ignore[arg-type]

    asyncio.run(scenario())
    records = [decode_model_swap(value) for topic, (key, value, _) in sender.sent if topic == "t.model-swaps"]
    assert records == [
        ModelSwap("m", 1, "fp1", None, "host.0", "t.records", {0: 90, 1: 200, 2: 300}, records[0].swapped_at),  # type: ignore[union-attr]
        ModelSwap("m", 2, "fp2", 1, "host.0", "t.records", {0: 100, 1: 200, 2: 250}, records[1].swapped_at),  # type: ignore[union-attr]
    ]
