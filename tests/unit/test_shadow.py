"""The shadow in the batch pipeline: the staging version scores beside production, written where production's
predictions are not, only while a staging version other than production's exists, and never failing a batch."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from prometheus_client import CollectorRegistry

from driftline.topics import Topics
from processors.metrics import ProcessorMetrics
from processors.pipeline import BatchPipeline
from processors.shadow import ShadowSlot
from tests.unit.test_batch_pipeline import BATCH, FakeDrift, FakeSender, FakeSink, FakeStep, _loader, _slot


class StagingRegistry:
    root = "fake"

    def __init__(self) -> None:
        self.staging: int | None = None

    def alias(self, name: str) -> Any:
        assert name == "staging"
        return SimpleNamespace(version=self.staging) if self.staging else None


def _pipeline(broken: set[int] = frozenset()) -> tuple[BatchPipeline, Any, ShadowSlot, FakeSink, FakeSink, FakeSender]:  # type: ignore[assignment]
    metrics = ProcessorMetrics(CollectorRegistry())
    sink, shadow_sink, sender = FakeSink(), FakeSink(), FakeSender()
    slot = _slot(metrics, [])
    shadow = ShadowSlot(StagingRegistry(), loader=_loader(set(broken)))  # type: ignore[arg-type]
    pipeline = BatchPipeline(slot=slot, drift=FakeDrift(), sink=sink, sender=sender, topics=Topics("t."),  # type: ignore[arg-type]
                             metrics=metrics, stopping=lambda: False, wall_ms=lambda: 1000.0, shadow=shadow,
                             shadow_sink=shadow_sink)  # fmt: skip
    return pipeline, slot, shadow, sink, shadow_sink, sender


def _run(pipeline: BatchPipeline) -> None:
    async def batch() -> None:
        acknowledged = await pipeline(BATCH)  # type: ignore[arg-type]
        assert acknowledged is not None
        await acknowledged

    asyncio.run(batch())


def test_no_staging_no_shadow() -> None:
    pipeline, slot, shadow, _sink, shadow_sink, sender = _pipeline()
    asyncio.run(slot.load(1))
    asyncio.run(shadow.reconcile())
    _run(pipeline)
    assert shadow.step is None and shadow_sink.written == []
    assert [topic for topic, _ in sender.sent] == ["t.dead-letter", "t.predictions"]


def test_staging_is_scored_beside_production_from_the_next_batch_then_dropped() -> None:
    pipeline, slot, shadow, sink, shadow_sink, sender = _pipeline()
    asyncio.run(slot.load(1))
    shadow.registry.staging = 2  # type: ignore[attr-defined]
    asyncio.run(shadow.reconcile())
    assert shadow.version == 2 and shadow.step is None  # staged: it scores from the next batch on
    _run(pipeline)
    assert sink.written == [(["id0", "id2"], [b"doc0", b"doc2"])]  # production's, under production's keys
    assert shadow_sink.written == [(["id0", "id2"], [b"doc0", b"doc2"])]  # the shadow's, under the shadow keys
    topics = [topic for topic, _ in sender.sent]
    assert topics == ["t.dead-letter", "t.predictions", "t.predictions-shadow"]
    shadow.registry.staging = None  # type: ignore[attr-defined]  # promoted or discarded
    asyncio.run(shadow.reconcile())
    sender.sent.clear()
    _run(pipeline)
    assert shadow.step is None and len(shadow_sink.written) == 1
    assert [topic for topic, _ in sender.sent] == ["t.dead-letter", "t.predictions"]


def test_staging_that_is_production_is_not_shadowed() -> None:
    pipeline, slot, shadow, _sink, shadow_sink, _sender = _pipeline()
    asyncio.run(slot.load(2))
    shadow.registry.staging = 2  # type: ignore[attr-defined]  # promoted; the alias goes at the next reconcile
    asyncio.run(shadow.reconcile())
    _run(pipeline)
    assert shadow_sink.written == []


def test_a_staging_version_that_does_not_load_is_refused_once() -> None:
    pipeline, slot, shadow, _sink, shadow_sink, _sender = _pipeline(broken={2})
    asyncio.run(slot.load(1))
    shadow.registry.staging = 2  # type: ignore[attr-defined]
    asyncio.run(shadow.reconcile())
    asyncio.run(shadow.reconcile())
    assert shadow.version is None and shadow._refused == {2}
    _run(pipeline)
    assert shadow_sink.written == []


class FailingStep(FakeStep):
    def __call__(self, messages: Any) -> Any:
        raise RuntimeError("the staging model broke")


def test_a_shadow_that_fails_never_fails_the_batch() -> None:
    pipeline, slot, shadow, sink, shadow_sink, sender = _pipeline()
    asyncio.run(slot.load(1))
    shadow.step = FailingStep(2)  # type: ignore[assignment]
    _run(pipeline)
    assert sink.written and shadow_sink.written == []
    assert [topic for topic, _ in sender.sent] == ["t.dead-letter", "t.predictions"]
