"""Micro-batches from a topic for a consumer group, committed only once the batch's effects are durable.

faust's per-event stream path costs too much per record even for an agent that does nothing (docs/architecture.md);
aiokafka's ``getmany`` hands over whole fetched batches at a fraction of the per-record cost. The handler writes a
batch and returns an awaitable that completes when the rest of its effects (the Kafka sends) are acknowledged.
Offsets are committed explicitly, in consumption order, only after both, so a crash or a stop at any point
redelivers every batch not yet committed (at-least-once). The next batch is fetched and processed while the previous
one's acknowledgements and commit are in flight (a bounded number).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError

from driftline.kafka_clients import client_options
from driftline.settings import KafkaSettings
from processors.scoring_step import Incoming

logger = logging.getLogger(__name__)

Offsets = dict[TopicPartition, int]
# A batch's handler, given the batch and how many records wait after it: an awaitable that completes when the
# batch's effects are written and acknowledged. It, or the handler itself, raises NotWritten if the batch was not
# written (the worker is stopping while a store is down): the consumer then stops without committing it or any later
# batch. Any other error exits the worker uncommitted.
Handler = Callable[[list[Incoming], int], Awaitable[Awaitable[object]]]


class NotWritten(Exception):
    """A batch's effects were not written because the worker is stopping; it will be delivered again."""


def already_acknowledged() -> asyncio.Future[None]:
    """An awaitable for a batch with nothing left to acknowledge."""
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    future.set_result(None)
    return future


class InOrderCommits:
    """Commits batches' offsets in the order they were consumed, each once its effects are acknowledged.

    At most ``max_in_flight`` batches wait for acknowledgement; beyond that ``add`` waits for the oldest. A commit
    never blocks the consume loop: it runs in the background, and batches acknowledged meanwhile are committed
    together by the next one, which starts no sooner than ``min_interval`` seconds after the last one started (a
    commit per batch would be a broker write per batch; a crash re-delivers at most that much more). A failed
    acknowledgement raises from ``add``/``advance``/``drain`` from then on, and neither that batch nor any later one
    is committed.
    """

    def __init__(
        self,
        commit: Callable[[Offsets], Coroutine[Any, Any, None]],
        *,
        max_in_flight: int,
        min_interval: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._commit = commit
        self.max_in_flight = max_in_flight
        self.min_interval = min_interval
        self._clock = clock
        self._next_commit = 0.0
        self._pending: deque[tuple[Offsets, asyncio.Future[object]]] = deque()
        self._ready: Offsets = {}  # acknowledged, not yet committed
        self._committing: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._error: Exception | None = None

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    async def add(self, offsets: Offsets, acknowledged: Awaitable[object]) -> None:
        self._pending.append((offsets, asyncio.ensure_future(acknowledged)))
        await self.advance()

    async def advance(self) -> None:
        """Collect every leading acknowledged batch (waiting only while too many are in flight); commit if idle."""
        async with self._lock:
            await self._collect(lambda: self._pending[0][1].done() or len(self._pending) > self.max_in_flight)
            if self._committing is not None and self._committing.done():
                task, self._committing = self._committing, None
                task.result()
            if self._ready and self._committing is None and self._clock() >= self._next_commit:
                ready, self._ready = self._ready, {}
                self._next_commit = self._clock() + self.min_interval
                self._committing = asyncio.create_task(self._commit(ready))

    async def drain(self) -> None:
        """Wait for every batch in flight and commit it (before a rebalance or a stop)."""
        async with self._lock:
            await self._collect(lambda: True)
            if self._committing is not None:
                task, self._committing = self._committing, None
                await task
            if self._ready:
                ready, self._ready = self._ready, {}
                await self._commit(ready)

    async def _collect(self, take: Callable[[], bool]) -> None:
        if self._error is not None:
            raise self._error
        while self._pending and take():
            offsets, acknowledged = self._pending[0]
            try:
                await acknowledged
            except Exception as exc:  # this batch and every later one stay uncommitted, for good
                self._error = exc
                for _, later in self._pending:  # never awaited now: their own errors are expected, not news
                    later.add_done_callback(lambda f: f.cancelled() or f.exception())
                raise
            self._pending.popleft()
            self._ready.update(offsets)


class _Assignment(ConsumerRebalanceListener):
    def __init__(
        self,
        topic: str,
        on_change: Callable[[str, int], None],
        on_revoked: Callable[[set[TopicPartition]], Awaitable[None]],
    ) -> None:
        self.topic = topic
        self.on_change = on_change
        self.on_revoked = on_revoked

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        logger.info("partitions revoked topic=%s %s", self.topic, sorted(tp.partition for tp in revoked))
        await self.on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        partitions = sorted(tp.partition for tp in assigned if tp.topic == self.topic)
        logger.info("partitions assigned topic=%s %s", self.topic, partitions)
        self.on_change(self.topic, len(partitions))


class BatchConsumer:
    def __init__(
        self,
        kafka: KafkaSettings,
        topic: str,
        group_id: str,
        *,
        batch_max: int,
        within_seconds: float,
        client_id: str,
        fetch_min_bytes: int = 1,
        max_in_flight: int = 4,
        commit_interval: float = 0.2,
        on_assignment: Callable[[str, int], None] = lambda topic, n: None,
        on_lag: Callable[[str, int, int], None] = lambda topic, partition, lag: None,
        on_poll: Callable[[str], None] = lambda topic: None,
    ) -> None:
        self._on_lag = on_lag
        self._on_poll = on_poll
        self.topic = topic
        self.batch_max = batch_max
        self.within_ms = max(1, int(within_seconds * 1000))
        self._listener = _Assignment(topic, on_assignment, self._revoked)
        self._commits = InOrderCommits(self._commit, max_in_flight=max_in_flight, min_interval=commit_interval)
        self._consumer = AIOKafkaConsumer(
            group_id=group_id,
            client_id=client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=batch_max,
            fetch_max_wait_ms=self.within_ms,
            fetch_min_bytes=fetch_min_bytes,
            session_timeout_ms=10_000,
            heartbeat_interval_ms=3_000,
            request_timeout_ms=kafka.request_timeout_ms,
            **client_options(kafka),
        )

    async def positions(self) -> dict[int, int]:
        """The next offset this consumer hands over for each partition of its topic that it holds (a partition whose
        position it cannot tell within a second is left out)."""
        found: dict[int, int] = {}
        for tp in self._consumer.assignment():
            if tp.topic == self.topic:
                try:
                    found[tp.partition] = await asyncio.wait_for(self._consumer.position(tp), timeout=1.0)
                except (TimeoutError, KafkaError) as exc:
                    logger.warning("no position for partition=%s: %r", tp.partition, exc)
        return found

    async def _revoked(self, revoked: set[TopicPartition]) -> None:
        # Commit what is in flight while the partitions are still ours, so their next owner does not redo it.
        await self._commits.drain()
        for tp in revoked:
            self._on_lag(tp.topic, tp.partition, -1)  # -1: no longer ours

    async def _commit(self, offsets: Offsets) -> None:
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:
            # A rebalance took these partitions away; the batches were written (idempotently) and whoever owns
            # them now will deliver them again.
            logger.warning("commit after a rebalance failed (%s); some records may be scored twice", exc)

    async def run(self, handle: Handler) -> None:
        """Consume until cancelled or until a batch is not written (NotWritten: it and later ones stay uncommitted)."""
        consumer = self._consumer
        consumer.subscribe([self.topic], listener=self._listener)
        await consumer.start()
        stopped_cleanly = False
        try:
            while True:
                self._on_poll(self.topic)  # the liveness signal: the loop is back for more
                fetched = await consumer.getmany(timeout_ms=self.within_ms, max_records=self.batch_max)
                if not fetched:
                    await self._commits.advance()
                    continue
                messages: list[Incoming] = [r for records in fetched.values() for r in records]
                offsets = {tp: records[-1].offset + 1 for tp, records in fetched.items() if records}
                behind = 0
                for tp, position in offsets.items():
                    highwater = consumer.highwater(tp)  # as of the last fetch of that partition
                    if highwater is not None:
                        behind += max(0, highwater - position)
                        self._on_lag(tp.topic, tp.partition, max(0, highwater - position))
                acknowledged = await handle(messages, behind)
                await self._commits.add(offsets, acknowledged)
        except NotWritten as exc:
            logger.warning("%s; stopping without committing that batch or any later one", exc)
            stopped_cleanly = True
        except asyncio.CancelledError:
            stopped_cleanly = True
            raise
        finally:
            if stopped_cleanly:  # a stop: commit what was written and acknowledged (a failure leaves it all)
                try:
                    await asyncio.wait_for(self._commits.drain(), timeout=10)
                except Exception as exc:
                    logger.warning("stopping with %d batches uncommitted: %s", self._commits.in_flight, exc)
            await consumer.stop()
