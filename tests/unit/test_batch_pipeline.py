"""The processor's per-batch parts without a broker: the model slot's explicit swap, and the batch pipeline's order
of effects (dead letters and predictions sent, Redis written before anything is acknowledged, drift and metrics)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from driftline.messages import decode_dead_letter
from driftline.records import Reason, Rejection
from driftline.topics import Topics
from processors.batch_consumer import NotWritten, already_acknowledged
from processors.metrics import ProcessorMetrics
from processors.model_slot import ModelSlot
from processors.pipeline import BatchPipeline
from processors.scoring_step import StepResult


@dataclass(frozen=True)
class Message:
    key: bytes | None
    value: bytes | None
    partition: int
    offset: int
    topic: str = "t.records"


class FakeStep:
    """Scores every message whose value is not b"bad"; rejects the others."""

    def __init__(self, version: int) -> None:
        self.bundle = SimpleNamespace(version=version, model_name="m", fingerprint=f"fp{version}",
                                      profile=f"p{version}")  # fmt: skip

    def __call__(self, messages: Sequence[Message]) -> StepResult:
        good = [i for i, m in enumerate(messages) if m.value != b"bad"]
        return StepResult(
            ids=[f"id{i}" for i in good], indexes=good, documents=[b"doc%d" % i for i in good],
            event_time_ms=np.zeros(len(good)), inference_seconds=0.001, version=self.bundle.version,
            rejections=[Rejection(b"bad", Reason.MALFORMED_JSON, "not JSON", None, i)
                        for i, m in enumerate(messages) if m.value == b"bad"],
            counts={"x": np.ones(2, dtype=np.int64)} if good else {},
        )  # fmt: skip


class FakeRegistry:
    root = "fake"

    def __init__(self) -> None:
        self.production: int | None = 1
        self.numbers = [1, 2, 3]

    def versions(self) -> list[Any]:
        return [SimpleNamespace(version=v) for v in self.numbers]

    def manifest(self, version: int) -> Any:
        return SimpleNamespace(fingerprint=f"fp{version}")

    def alias(self, name: str) -> Any:
        return SimpleNamespace(version=self.production) if self.production else None


def _loader(broken: set[int]) -> Callable[[Any, int], FakeStep]:
    def load(registry: Any, version: int) -> FakeStep:
        if version in broken:
            raise ValueError(f"version {version} does not reproduce its golden records")
        return FakeStep(version)

    return load


def _slot(metrics: ProcessorMetrics, swaps: list[Any], broken: set[int] = frozenset()) -> ModelSlot:  # type: ignore[assignment]
    return ModelSlot(FakeRegistry(), metrics, loader=_loader(set(broken)), on_swap=[swaps.append])  # type: ignore[arg-type]


def _sample(metrics: ProcessorMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_the_first_model_serves_at_once_later_ones_only_when_swapped() -> None:
    metrics, swaps = ProcessorMetrics(CollectorRegistry()), []

    async def scenario() -> None:
        slot = _slot(metrics, swaps)
        assert await slot.reconcile()
        await slot.wait_ready()
        assert slot.step.bundle.version == 1 and [b.version for b in swaps] == [1]
        assert await slot.load(2)
        assert slot.version == 2 and slot.step.bundle.version == 1  # staged, not serving: a batch may be in flight
        assert slot.swap_staged() and slot.step.bundle.version == 2
        assert not slot.swap_staged()  # nothing staged
        assert [b.version for b in swaps] == [1, 2]

    asyncio.run(scenario())
    assert _sample(metrics, "driftline_model_info", model="m", version="2", fingerprint="fp2") == 1
    assert _sample(metrics, "driftline_model_info", model="m", version="1", fingerprint="fp1") is None
    assert _sample(metrics, "driftline_model_swaps_total", outcome="succeeded") == 1


def test_a_version_that_fails_to_load_is_refused_once_and_the_old_one_serves_on() -> None:
    metrics, swaps = ProcessorMetrics(CollectorRegistry()), []

    async def scenario() -> None:
        slot = _slot(metrics, swaps, broken={2})
        assert await slot.load(1)
        assert not await slot.load(2)
        assert not await slot.load(2)  # the same (version, fingerprint) is not tried again
        assert not slot.swap_staged() and slot.step.bundle.version == 1

    asyncio.run(scenario())
    assert _sample(metrics, "driftline_model_swaps_total", outcome="failed") == 1


def test_a_worker_whose_production_does_not_load_serves_the_newest_version_that_does_and_says_so() -> None:
    metrics, swaps = ProcessorMetrics(CollectorRegistry()), []

    async def scenario() -> None:
        slot = _slot(metrics, swaps, broken={3, 2})
        slot.registry.production = 3  # type: ignore[attr-defined]
        slot.registry.numbers = [1, 2, 3, 4]  # type: ignore[attr-defined]  # 4: newer, but never production
        assert await slot.reconcile()  # a (re)started worker: nothing serves, production 3 is broken
        assert slot.step.bundle.version == 4
        assert _sample(metrics, "driftline_model_fallback") == 1
        assert not await slot.reconcile()  # the next check: production still does not load
        assert slot.step.bundle.version == 4 and _sample(metrics, "driftline_model_fallback") == 1
        slot.registry.production = 1  # type: ignore[attr-defined]  # an operator promotes a good version
        assert await slot.reconcile() and slot.swap_staged() and slot.step.bundle.version == 1
        assert _sample(metrics, "driftline_model_fallback") == 0
        slot.registry.production = 2  # type: ignore[attr-defined]  # production moves to a broken version
        assert not await slot.reconcile()
        assert slot.step.bundle.version == 1  # the old one serves on
        assert _sample(metrics, "driftline_model_fallback") == 1

    asyncio.run(scenario())


def test_no_step_before_a_model() -> None:
    with pytest.raises(RuntimeError, match="no model loaded"):
        _ = _slot(ProcessorMetrics(CollectorRegistry()), []).step


@dataclass
class FakeSink:
    up: bool = True
    written: list[tuple[list[str], list[bytes]]] = field(default_factory=list)

    async def write(self, ids: Sequence[str], documents: Sequence[bytes], *, stopping: Callable[[], bool]) -> bool:
        if not self.up:
            return False  # as RedisSink does when asked to stop while Redis is down
        self.written.append((list(ids), list(documents)))
        return True


@dataclass
class FakeSender:
    sent: list[tuple[str, Any]] = field(default_factory=list)

    async def partition_count(self, topic: str) -> int:
        return 6

    async def send_all(self, topic: str, keys: Sequence[bytes], values: Sequence[bytes],
                       source_partitions: Sequence[int | None], source_partition_count: int
                       ) -> Awaitable[object]:  # fmt: skip
        self.sent.append((topic, (list(keys), list(values), list(source_partitions))))
        return already_acknowledged()  # a future, as aiokafka returns: dropped unawaited when not needed

    async def send(self, topic: str, key: bytes | None, value: bytes | None,
                   headers: list[tuple[str, bytes]]) -> Awaitable[object]:  # fmt: skip
        self.sent.append((topic, (key, value, headers)))
        return already_acknowledged()


class FakeDrift:
    def __init__(self) -> None:
        self.added: list[Any] = []

    def add(self, counts: Any) -> None:
        self.added.append(counts)


def _pipeline(sink: FakeSink, sender: FakeSender, drift: FakeDrift,
              metrics: ProcessorMetrics) -> tuple[BatchPipeline, ModelSlot]:  # fmt: skip
    slot = _slot(metrics, [])
    pipeline = BatchPipeline(slot=slot, drift=drift, sink=sink, sender=sender, topics=Topics("t."),  # type: ignore[arg-type]
                             metrics=metrics, stopping=lambda: False, wall_ms=lambda: 1000.0)  # fmt: skip
    return pipeline, slot


BATCH = [Message(b"id0", b"{}", 3, 10), Message(b"k", b"bad", 4, 11), Message(b"other", b"{}", 5, 12)]


def test_a_batch_is_scored_written_sent_and_counted() -> None:
    metrics, sink, sender, drift = ProcessorMetrics(CollectorRegistry()), FakeSink(), FakeSender(), FakeDrift()

    async def scenario() -> None:
        pipeline, slot = _pipeline(sink, sender, drift, metrics)
        await slot.load(1)
        acknowledged = await pipeline(BATCH)  # type: ignore[arg-type]
        assert sink.written  # nothing waits after it: written before the next fetch
        await acknowledged

    asyncio.run(scenario())
    assert sink.written == [(["id0", "id2"], [b"doc0", b"doc2"])]
    (dl_topic, (dl_key, dl_value, headers)), (p_topic, (keys, values, partitions)) = sender.sent
    assert (dl_topic, dl_key, dl_value) == ("t.dead-letter", b"k", b"bad")
    letter = decode_dead_letter(headers)
    assert (letter.reason, letter.topic, letter.partition, letter.offset) == ("malformed_json", "t.records", 4, 11)
    assert (p_topic, keys, values) == ("t.predictions", [b"id0", b"id2"], [b"doc0", b"doc2"])
    assert partitions == [3, None]  # keyed by its id: its partition carries over; keyed otherwise: hashed again
    assert len(drift.added) == 1
    assert _sample(metrics, "driftline_records_total", outcome="scored") == 2
    assert _sample(metrics, "driftline_records_total", outcome="dead_letter") == 1
    assert _sample(metrics, "driftline_dead_letters_total", reason="malformed_json") == 1
    assert _sample(metrics, "driftline_end_to_end_latency_seconds_count") == 2


def test_a_batch_redis_did_not_take_is_not_acknowledged_and_sends_no_predictions() -> None:
    metrics, sink, sender, drift = ProcessorMetrics(CollectorRegistry()), FakeSink(up=False), FakeSender(), FakeDrift()

    async def scenario() -> None:
        pipeline, slot = _pipeline(sink, sender, drift, metrics)
        await slot.load(1)
        with pytest.raises(NotWritten, match="Redis did not take a batch of 2 predictions"):
            await (await pipeline(BATCH))  # type: ignore[arg-type]

    asyncio.run(scenario())
    assert [topic for topic, _ in sender.sent] == ["t.dead-letter"]  # re-sent on redelivery: at-least-once
    assert not drift.added
    assert _sample(metrics, "driftline_records_total", outcome="scored") == 0


def test_a_staged_model_serves_from_the_next_batch() -> None:
    metrics, sink, sender, drift = ProcessorMetrics(CollectorRegistry()), FakeSink(), FakeSender(), FakeDrift()
    versions: list[int] = []

    async def scenario() -> None:
        pipeline, slot = _pipeline(sink, sender, drift, metrics)
        await slot.load(1)
        for _ in range(2):
            await (await pipeline(BATCH[:1]))  # type: ignore[arg-type]
            versions.append(slot.step.bundle.version)
            await slot.load(2)

    asyncio.run(scenario())
    assert versions == [1, 2]


@dataclass
class SlowSink(FakeSink):
    """Redis taking its time with the first batch: a write the next batch must not overtake."""

    first: asyncio.Event = field(default_factory=asyncio.Event)  # set: Redis answers the first write
    waiting: asyncio.Event = field(default_factory=asyncio.Event)  # set: the first write is in Redis's hands

    async def write(self, ids: Sequence[str], documents: Sequence[bytes], *, stopping: Callable[[], bool]) -> bool:
        if not self.written:
            self.waiting.set()
            await self.first.wait()
        return await super().write(ids, documents, stopping=stopping)


def test_with_a_backlog_the_next_batch_is_scored_while_redis_writes_one_and_batches_keep_their_order() -> None:
    metrics, sender, drift = ProcessorMetrics(CollectorRegistry()), FakeSender(), FakeDrift()

    async def scenario() -> SlowSink:
        sink = SlowSink()
        pipeline, slot = _pipeline(sink, sender, drift, metrics)
        await slot.load(1)
        first = await pipeline([BATCH[0]], behind=3)  # type: ignore[arg-type]  # a backlog waits
        second = await pipeline(BATCH, behind=1)  # type: ignore[arg-type]  # scored while the first write waits
        await sink.waiting.wait()
        assert sink.written == []  # the second is not written before the first
        sink.first.set()
        await asyncio.gather(first, second)
        return sink

    sink = asyncio.run(scenario())
    assert [ids for ids, _ in sink.written] == [["id0"], ["id0", "id2"]]
    assert [keys for topic, (keys, _, _) in sender.sent if topic == "t.predictions"] == [[b"id0"], [b"id0", b"id2"]]
