"""The serve batcher: concurrent requests share one call, a batch closes when full or when its oldest request
has waited max_wait, results go back to their own request in order, and a failing call fails only its batch."""

from __future__ import annotations

import asyncio

import pytest

from processors.serve_batcher import Batcher


class Recorder:
    """A batch function that remembers each call and can be held until released."""

    def __init__(self) -> None:
        self.calls: list[list[int]] = []
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self, items: list[int]) -> list[int]:
        self.calls.append(list(items))
        await self.release.wait()
        return [item * 10 for item in items]


def test_concurrent_requests_share_one_call_and_get_their_own_results_in_order() -> None:
    async def scenario() -> None:
        run = Recorder()
        batcher: Batcher[int, int] = Batcher(run, max_batch_size=100, max_wait_seconds=0.05)
        batcher.start()
        results = await asyncio.gather(batcher.submit([1, 2]), batcher.submit([3]), batcher.submit([4, 5, 6]))
        await batcher.close()
        assert results == [[10, 20], [30], [40, 50, 60]]
        assert run.calls == [[1, 2, 3, 4, 5, 6]]

    asyncio.run(scenario())


def test_a_full_batch_closes_without_waiting_out_max_wait() -> None:
    async def scenario() -> None:
        run = Recorder()
        sizes: list[int] = []
        batcher: Batcher[int, int] = Batcher(run, max_batch_size=4, max_wait_seconds=60, on_batch=sizes.append)
        batcher.start()
        results = await asyncio.wait_for(asyncio.gather(batcher.submit([1, 2]), batcher.submit([3, 4])), timeout=5)
        await batcher.close()
        assert results == [[10, 20], [30, 40]] and sizes == [4]

    asyncio.run(scenario())


def test_requests_join_whole_and_the_next_batch_fills_while_one_runs() -> None:
    async def scenario() -> None:
        run = Recorder()
        run.release.clear()
        batcher: Batcher[int, int] = Batcher(run, max_batch_size=3, max_wait_seconds=0.0)
        batcher.start()
        first = asyncio.ensure_future(batcher.submit([1]))
        while not run.calls:  # the first batch is running (held)
            await asyncio.sleep(0)
        waiting = [asyncio.ensure_future(batcher.submit(items)) for items in ([2, 3], [4, 5], [6])]
        await asyncio.sleep(0)
        run.release.set()
        results = await asyncio.wait_for(asyncio.gather(first, *waiting), timeout=5)
        await batcher.close()
        assert results == [[10], [20, 30], [40, 50], [60]]
        # [4, 5] does not fit beside [2, 3] in a batch of 3: requests are never split
        assert run.calls == [[1], [2, 3], [4, 5, 6]]

    asyncio.run(scenario())


def test_a_request_larger_than_the_batch_runs_alone() -> None:
    async def scenario() -> None:
        run = Recorder()
        batcher: Batcher[int, int] = Batcher(run, max_batch_size=2, max_wait_seconds=0.01)
        batcher.start()
        results = await asyncio.gather(batcher.submit([1, 2, 3, 4, 5]), batcher.submit([6]))
        await batcher.close()
        assert results == [[10, 20, 30, 40, 50], [60]]
        assert run.calls == [[1, 2, 3, 4, 5], [6]]

    asyncio.run(scenario())


def test_a_lone_request_waits_max_wait_at_most() -> None:
    async def scenario() -> float:
        batcher: Batcher[int, int] = Batcher(Recorder(), max_batch_size=1000, max_wait_seconds=0.05)
        batcher.start()
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await batcher.submit([7]) == [70]
        waited = loop.time() - started
        await batcher.close()
        return waited

    waited = asyncio.run(scenario())
    assert 0.04 <= waited < 1.0


def test_a_failing_call_fails_its_batch_only() -> None:
    async def scenario() -> None:
        async def run(items: list[int]) -> list[int]:
            if 0 in items:
                raise ValueError("zero")
            return items

        batcher: Batcher[int, int] = Batcher(run, max_batch_size=10, max_wait_seconds=0.01)
        batcher.start()
        bad = await asyncio.gather(batcher.submit([0]), batcher.submit([1]), return_exceptions=True)
        assert all(isinstance(r, ValueError) for r in bad)
        assert await batcher.submit([2, 3]) == [2, 3]
        await batcher.close()

    asyncio.run(scenario())


def test_a_stopped_batcher_refuses_and_bad_limits_are_refused() -> None:
    async def scenario() -> None:
        batcher: Batcher[int, int] = Batcher(Recorder(), max_batch_size=1, max_wait_seconds=0)
        with pytest.raises(RuntimeError, match="not running"):
            await batcher.submit([1])

    asyncio.run(scenario())
    with pytest.raises(ValueError, match="max_batch_size >= 1"):
        Batcher(Recorder(), max_batch_size=0, max_wait_seconds=0)
