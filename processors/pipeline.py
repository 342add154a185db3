"""One micro-batch, from consumed messages to acknowledged effects (DESIGN section 6).

Between two batches a staged model goes into service; then the batch is validated and scored (``ScoringStep``) and
its rejections are dead-lettered. Then its predictions are written to Redis in one command and sent to the
predictions topic, and its drift counts and metrics recorded. When records already wait after the batch (a
backlog), that part runs in a task of its own, so that the next batch is scored while Redis runs this one's write;
otherwise it runs at once, the lowest latency. Batches write and send in the order they were consumed. The offsets
may be committed only once Redis has the batch and Kafka has acknowledged its sends: ``BatchPipeline.__call__``
returns an awaitable of all that. It, or the call itself, raises ``NotWritten`` if the batch was not written (the
worker is stopping while Redis is down).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from driftline.messages import DeadLetter, dead_letter_headers
from driftline.records import Rejection
from driftline.topics import Topics
from processors.batch_consumer import NotWritten
from processors.drift_monitor import DriftMonitor
from processors.metrics import ProcessorMetrics
from processors.model_slot import ModelSlot
from processors.scoring_step import Incoming, ScoringStep, StepResult
from processors.shadow import ShadowSlot
from processors.swap_log import SwapLog

logger = logging.getLogger(__name__)


class Sink(Protocol):
    async def write(self, ids: Sequence[str], documents: Sequence[bytes], *, stopping: Callable[[], bool]) -> bool: ...


class Sender(Protocol):
    async def partition_count(self, topic: str) -> int: ...

    async def send_all(self, topic: str, keys: Sequence[bytes], values: Sequence[bytes],
                       source_partitions: Sequence[int | None], source_partition_count: int
                       ) -> Awaitable[object]: ...  # fmt: skip

    async def send(self, topic: str, key: bytes | None, value: bytes | None,
                   headers: list[tuple[str, bytes]]) -> Awaitable[object]: ...  # fmt: skip


class BatchPipeline:
    def __init__(self, *, slot: ModelSlot, drift: DriftMonitor, sink: Sink, sender: Sender, topics: Topics,
                 metrics: ProcessorMetrics, stopping: Callable[[], bool], swaps: SwapLog | None = None,
                 shadow: ShadowSlot | None = None, shadow_sink: Sink | None = None,
                 wall_ms: Callable[[], float] = lambda: time.time() * 1000.0) -> None:  # fmt: skip
        self.slot = slot
        self.drift = drift
        self.sink = sink
        self.sender = sender
        self.topics = topics
        self.metrics = metrics
        self._stopping = stopping
        self.swaps = swaps
        self.shadow = shadow
        self.shadow_sink = shadow_sink
        self._wall_ms = wall_ms
        self._in_order = asyncio.Lock()

    async def __call__(self, messages: list[Incoming], behind: int = 0) -> Awaitable[object]:
        """Score the batch and write it; ``behind``: records already waiting after it (its consumer's lag)."""
        started = time.perf_counter()
        self.slot.swap_staged()
        step = self.slot.step
        result = step(messages)
        pending = [await self._dead_letter(messages[r.index], r) for r in result.rejections]
        effects = self._in_turn(messages, step, result, pending, started)
        if behind:  # a backlog: the next batch is scored while Redis writes this one
            return self._acknowledged(asyncio.ensure_future(effects), pending)
        await effects  # nothing waiting: the predictions go out before the next fetch, the lowest latency
        return asyncio.gather(*pending)

    async def _in_turn(self, messages: list[Incoming], step: ScoringStep, result: StepResult,
                       pending: list[Awaitable[object]], started: float) -> None:  # fmt: skip
        async with self._in_order:  # a lock's waiters are served first come, first served: in batch order
            await self._effects(messages, step, result, pending, started)

    @staticmethod
    async def _acknowledged(written: Awaitable[None], pending: list[Awaitable[object]]) -> None:
        await written  # first: it adds the predictions' sends to pending
        await asyncio.gather(*pending)

    async def _effects(self, messages: list[Incoming], step: ScoringStep, result: StepResult,
                       pending: list[Awaitable[object]], started: float) -> None:  # fmt: skip
        """Redis, then the sends (their acknowledgements added to ``pending``), drift counts and metrics."""
        if not await self.sink.write(result.ids, result.documents, stopping=self._stopping):
            raise NotWritten(f"Redis did not take a batch of {len(result.ids)} predictions before the stop")
        swapped = await self.swaps.observe(messages, step.bundle) if self.swaps else None
        if swapped is not None:
            pending.append(swapped)
        written_ms = self._wall_ms()
        if result.ids:
            pending.append(await self._send_predictions(messages, result))
        self._observe(result, written_ms)
        if result.counts:
            self.drift.add(result.counts)
        shadow = self.shadow.active(result.version) if self.shadow is not None and result.ids else None
        if shadow is not None:
            shadowed = await self._shadow(shadow, messages)
            if shadowed is False:
                raise NotWritten("Redis did not take the staging version's shadow predictions before the stop")
            if shadowed is not True:
                pending.append(shadowed)
        self.metrics.batch_seconds.observe(time.perf_counter() - started)

    async def _shadow(self, step: ScoringStep, messages: list[Incoming]) -> Awaitable[object] | bool:
        """Score the batch with the staging version: its predictions to Redis (shadow keys) and to the shadow topic.
        False if Redis was not written (the worker is stopping: the batch is not acked), True if nothing to send."""
        try:
            result = step(messages)
        except Exception:  # the shadow must never fail production's batch
            logger.exception("shadow scoring with staging version=%s failed; batch not shadowed", step.bundle.version)
            return True
        if not result.ids or self.shadow_sink is None:
            return True
        if not await self.shadow_sink.write(result.ids, result.documents, stopping=self._stopping):
            return False
        return await self._send_predictions(messages, result, self.topics.predictions_shadow)

    async def _send_predictions(self, messages: list[Incoming], result: StepResult,
                                topic: str | None = None) -> Awaitable[object]:  # fmt: skip
        keys = [record_id.encode() for record_id in result.ids]
        records = [messages[i] for i in result.indexes]
        # a record keyed by its id tells the prediction's partition (publisher.py); another key tells nothing
        partitions = [r.partition if r.key == key else None for r, key in zip(records, keys, strict=True)]
        count = await self.sender.partition_count(self.topics.records)
        return await self.sender.send_all(topic or self.topics.predictions, keys, result.documents, partitions, count)

    async def _dead_letter(self, message: Incoming, rejection: Rejection) -> Awaitable[object]:
        letter = DeadLetter(rejection.reason.value, rejection.error, message.topic, message.partition, message.offset)
        key = rejection.record_id.encode() if rejection.record_id else message.key
        self.metrics.dead_letters.labels(reason=letter.reason).inc()
        logger.debug("dead letter partition=%s offset=%s reason=%s", message.partition, message.offset,
                     letter.reason)  # fmt: skip
        return await self.sender.send(self.topics.dead_letter, key, message.value, dead_letter_headers(letter))

    def _observe(self, result: StepResult, written_ms: float) -> None:
        m, n = self.metrics, len(result.ids)
        m.records.labels(outcome="scored").inc(n)
        m.records.labels(outcome="dead_letter").inc(len(result.rejections))
        m.batch_size.observe(n + len(result.rejections))
        if n:
            m.inference_seconds.observe(result.inference_seconds)
            m.end_to_end_latency.observe_many((written_ms - result.event_time_ms) / 1000.0)
