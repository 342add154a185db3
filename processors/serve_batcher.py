"""Request batching for ``driftline serve``: concurrent requests share one model call, as TF Serving's batcher does.

A batch opens when the first request arrives and closes when it holds ``max_batch_size`` items or when that
first request has waited ``max_wait_seconds`` (TF Serving's ``batch_timeout_micros``), whichever comes first.
Batches run one at a time; while one runs, the next one fills. Requests join a batch whole, in arrival order (a
request larger than ``max_batch_size`` makes a batch of its own), and each gets back its own slice of the results.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class _Request(Generic[T, R]):
    items: Sequence[T]
    arrived: float
    future: asyncio.Future[list[R]] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class Batcher(Generic[T, R]):
    """Gathers the items of concurrent ``submit`` calls into batches for ``run`` (one call per batch).

    ``run`` must return one result per item, in order; its exception fails every request of that batch.
    ``on_batch`` is told each batch's size (the item count), before it runs.
    """

    def __init__(
        self,
        run: Callable[[list[T]], Awaitable[list[R]]],
        *,
        max_batch_size: int,
        max_wait_seconds: float,
        on_batch: Callable[[int], None] = lambda size: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_batch_size < 1 or max_wait_seconds < 0:
            raise ValueError(f"expected max_batch_size >= 1 and max_wait_seconds >= 0, found {max_batch_size} "
                             f"and {max_wait_seconds}")  # fmt: skip
        self._run = run
        self.max_batch_size = max_batch_size
        self.max_wait_seconds = max_wait_seconds
        self._on_batch = on_batch
        self._clock = clock
        self._queue: deque[_Request[T, R]] = deque()
        self._queued_items = 0
        self._arrival = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def submit(self, items: Sequence[T]) -> list[R]:
        """The results for ``items``, once the batch they joined has run."""
        if self._task is None or self._task.done():
            raise RuntimeError("the batcher is not running: start() it first")
        if not items:
            return []
        request: _Request[T, R] = _Request(items, self._clock())
        self._queue.append(request)
        self._queued_items += len(items)
        self._arrival.set()
        return await request.future

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="batcher")

    async def close(self) -> None:
        """Stop batching; requests still queued fail with ``CancelledError``."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        while self._queue:
            self._queue.popleft().future.cancel()
        self._queued_items = 0

    async def _loop(self) -> None:
        while True:
            while not self._queue:
                self._arrival.clear()
                await self._arrival.wait()
            await self._fill()
            await self._run_batch(self._take())

    async def _fill(self) -> None:
        """Wait until the queue holds a full batch or the oldest request's wait is over."""
        deadline = self._queue[0].arrived + self.max_wait_seconds
        while self._queued_items < self.max_batch_size:
            remaining = deadline - self._clock()
            if remaining <= 0:
                return
            self._arrival.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrival.wait(), remaining)

    def _take(self) -> list[_Request[T, R]]:
        """The requests of the next batch: the oldest, and those after it that still fit."""
        batch = [self._queue.popleft()]
        size = len(batch[0].items)
        while self._queue and size + len(self._queue[0].items) <= self.max_batch_size:
            size += len(self._queue[0].items)
            batch.append(self._queue.popleft())
        self._queued_items -= size
        return batch

    async def _run_batch(self, batch: list[_Request[T, R]]) -> None:
        items = [item for request in batch for item in request.items]
        self._on_batch(len(items))
        try:
            results = await self._run(items)
            if len(results) != len(items):
                raise RuntimeError(f"the batch function returned {len(results)} results for {len(items)} items")
        except Exception as exc:  # handed to every waiting request; the batcher keeps running
            for request in batch:
                if not request.future.done():
                    request.future.set_exception(exc)
            return
        start = 0
        for request in batch:
            end = start + len(request.items)
            if not request.future.done():  # its client may have gone away
                request.future.set_result(results[start:end])
            start = end
