"""The processor's commit pipeline: offsets committed in consumption order, each batch only once acknowledged."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import TopicPartition

from processors.batch_consumer import InOrderCommits, Offsets, already_acknowledged

TP0, TP1 = TopicPartition("records", 0), TopicPartition("records", 1)


class Broker:
    """Records commits; a commit can be held open to see what the pipeline does meanwhile."""

    def __init__(self) -> None:
        self.commits: list[Offsets] = []
        self.hold: asyncio.Event | None = None

    async def commit(self, offsets: Offsets) -> None:
        if self.hold is not None:
            await self.hold.wait()
        self.commits.append(dict(offsets))


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def run(coro: object) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


def test_a_batch_is_committed_only_once_acknowledged_and_in_order() -> None:
    async def scenario() -> None:
        broker = Broker()
        commits = InOrderCommits(broker.commit, max_in_flight=4)
        first: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await commits.add({TP0: 10}, first)
        await commits.add({TP0: 20, TP1: 5}, already_acknowledged())  # acknowledged, but behind the first
        await settle()
        assert broker.commits == []
        first.set_result(None)
        await commits.advance()
        await settle()
        assert broker.commits == [{TP0: 20, TP1: 5}]  # both batches, in one commit, the later offsets winning
        assert commits.in_flight == 0

    run(scenario())


def test_batches_acknowledged_during_a_commit_are_committed_together_by_the_next() -> None:
    async def scenario() -> None:
        broker = Broker()
        broker.hold = asyncio.Event()
        commits = InOrderCommits(broker.commit, max_in_flight=4)
        await commits.add({TP0: 1}, already_acknowledged())  # starts a commit, which the broker holds
        await commits.add({TP0: 2}, already_acknowledged())  # the loop is not blocked by it
        await commits.add({TP1: 7}, already_acknowledged())
        await settle()
        assert broker.commits == []
        broker.hold.set()
        await settle()
        await commits.advance()
        await commits.drain()
        assert broker.commits == [{TP0: 1}, {TP0: 2, TP1: 7}]

    run(scenario())


def test_add_waits_for_the_oldest_batch_beyond_the_in_flight_limit() -> None:
    async def scenario() -> None:
        broker = Broker()
        commits = InOrderCommits(broker.commit, max_in_flight=2)
        futures = [asyncio.get_running_loop().create_future() for _ in range(3)]
        await commits.add({TP0: 1}, futures[0])
        await commits.add({TP0: 2}, futures[1])
        third = asyncio.create_task(commits.add({TP0: 3}, futures[2]))
        await settle()
        assert not third.done()  # three in flight: waits for the oldest
        futures[0].set_result(None)
        await settle()
        assert third.done()
        assert commits.in_flight == 2
        futures[1].set_result(None)
        futures[2].set_result(None)
        await commits.drain()
        assert broker.commits[-1] == {TP0: 3}

    run(scenario())


def test_a_failed_acknowledgement_stops_every_later_commit() -> None:
    async def scenario() -> None:
        broker = Broker()
        commits = InOrderCommits(broker.commit, max_in_flight=4)
        failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await commits.add({TP0: 1}, already_acknowledged())
        await commits.add({TP0: 2}, failed)
        await commits.add({TP0: 3}, already_acknowledged())
        failed.set_exception(RuntimeError("produce request failed"))
        with pytest.raises(RuntimeError, match="produce request failed"):
            await commits.advance()
        with pytest.raises(RuntimeError):  # and for good: a drain at a rebalance or stop commits nothing more
            await commits.drain()
        await settle()
        assert broker.commits == [{TP0: 1}]

    run(scenario())


def test_drain_waits_for_everything_in_flight() -> None:
    async def scenario() -> None:
        broker = Broker()
        commits = InOrderCommits(broker.commit, max_in_flight=4)
        late: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await commits.add({TP0: 5}, late)
        asyncio.get_running_loop().call_later(0.01, late.set_result, None)
        await commits.drain()
        assert broker.commits == [{TP0: 5}]
        assert commits.in_flight == 0

    run(scenario())


def test_commits_are_spaced_by_the_minimum_interval_and_a_drain_commits_at_once() -> None:
    async def scenario() -> None:
        broker = Broker()
        now = [100.0]
        commits = InOrderCommits(broker.commit, max_in_flight=4, min_interval=0.25, clock=lambda: now[0])
        await commits.add({TP0: 1}, already_acknowledged())  # the first commit starts at once
        await settle()
        assert broker.commits == [{TP0: 1}]
        await commits.add({TP0: 2}, already_acknowledged())
        now[0] += 0.125
        await commits.add({TP0: 3}, already_acknowledged())
        await settle()
        assert broker.commits == [{TP0: 1}]  # acknowledged, but within 0.25 s of the last commit
        now[0] += 0.125
        await commits.advance()  # as the consume loop does after every fetch, empty or not
        await settle()
        assert broker.commits == [{TP0: 1}, {TP0: 3}]
        await commits.add({TP1: 7}, already_acknowledged())
        await commits.drain()  # a revoke or a stop does not wait for the interval
        assert broker.commits == [{TP0: 1}, {TP0: 3}, {TP1: 7}]

    run(scenario())
