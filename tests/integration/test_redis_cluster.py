"""A real Redis Cluster (`driftline stack up --redis-cluster`: 3 primaries, a replica each): the workers' batch write
and label join routed by hash slot, the replicas' acknowledgement enforced, and a primary killed (-9) under load with
nothing lost.

The cluster is this module's own (its own ports and data); Kafka, the registry and the workers are the session's.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from driftline.settings import RedisSettings, Settings, StackSettings
from harness.kafka_reading import messages_in
from harness.processes import SupervisedWorkers, free_port, settings_env
from harness.scrape import scrape
from harness.streaming import BackgroundStream
from harness.waiting import wait_for
from processors.redis_sink import RedisSink, get_many, redis_client
from stack import Stack
from stack.process import port_open
from tests.integration.pipeline import Pipeline

pytestmark = pytest.mark.cluster  # also alone: `make test-cluster`

REDIS_PORT = 21001  # nodes 21001..21006, cluster bus 31001..31006: below the ephemeral range (32768+), where
# an outgoing connection can hold a bus port and the node then fails to bind it
RECORDS, RATE = 60_000, 4_000


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    base = Settings()
    stack_settings = StackSettings(**{**base.stack.model_dump(), "data_dir": tmp_path_factory.mktemp("redis-cluster"),
                                      "redis_port": REDIS_PORT, "redis_cluster": True})  # fmt: skip
    stack = Stack(base.model_copy(update={"stack": stack_settings}))
    for node in stack.redis_nodes:
        for port in (node.port, *node.extra_ports):
            if port_open(port):
                pytest.fail(f"port {port} is busy before the Redis Cluster test; something else is running there")
    stack.services = list(stack.redis_nodes)  # this module needs the Redis nodes only
    try:  # inside: a start that fails half-way stops what it started
        stack.up()
        yield stack
    finally:
        stack.down()


def _roles(cluster: Stack) -> dict[str, str]:
    roles = {}
    for node in cluster.redis_nodes:
        client = redis.Redis(port=node.port, socket_timeout=2, socket_connect_timeout=2)
        try:
            roles[node.name] = str(client.info("replication")["role"])
        except redis.RedisError:
            roles[node.name] = "down"
        finally:
            client.close()
    return roles


def _settings(cluster: Stack, prefix: str, **extra: object) -> RedisSettings:
    return RedisSettings(url=f"redis://{cluster.redis_nodes[0].address}/0", cluster=True, key_prefix=prefix,
                         **extra)  # type: ignore[arg-type]  # fmt: skip


def test_six_nodes_form_three_primaries_with_a_replica_each_and_a_batch_spreads_over_them(cluster: Stack) -> None:
    assert sorted(_roles(cluster).values()) == ["master"] * 3 + ["slave"] * 3
    settings = _settings(cluster, "shape:", replica_acks=1)
    ids = [str(i) for i in range(3000)]

    async def write_and_read() -> list[bytes | None]:
        client = redis_client(settings)
        try:
            assert await RedisSink(client, settings).write(ids, [i.encode() for i in ids], stopping=lambda: False)
            return await get_many(client, [f"shape:pred:{i}" for i in [*ids, "absent"]])
        finally:
            await client.aclose()

    assert asyncio.run(write_and_read()) == [*(i.encode() for i in ids), None]  # in order, whichever node held it
    sizes = {}
    for node in cluster.redis_nodes:
        client = redis.Redis(port=node.port)
        try:
            client.execute_command("READONLY")  # a replica answers reads of its primary's slots
            sizes[node.name] = len(list(client.scan_iter("shape:*", count=5000)))
        finally:
            client.close()
    assert sum(sizes.values()) == 2 * len(ids), sizes  # every key on its primary and on that primary's replica
    assert all(size > 500 for size in sizes.values()), sizes  # each slot range got a share


def test_a_batch_that_too_few_replicas_acknowledge_is_not_counted_as_written(cluster: Stack) -> None:
    settings = _settings(cluster, "acks:", replica_acks=2, replica_ack_timeout_ms=50)  # each primary has one replica
    retries: list[Exception] = []

    async def write() -> bool:
        client = redis_client(settings)
        try:
            sink = RedisSink(client, settings, on_retry=retries.append, max_backoff=0.05)
            return await sink.write(["a", "b", "c"], [b"1", b"2", b"3"], stopping=lambda: len(retries) >= 3)
        finally:
            await client.aclose()

    assert asyncio.run(write()) is False  # the caller would not acknowledge the batch
    assert len(retries) == 3 and all("fewer than 2 replica(s)" in str(exc) for exc in retries), retries


def test_killing_a_primary_under_load_loses_nothing(cluster: Stack, pipeline: Pipeline, tmp_path: Path) -> None:
    settings = _settings(cluster, pipeline.key_prefix, replica_acks=1)
    env = {**pipeline.env(), **settings_env(redis={"url": settings.url, "cluster": True, "replica_acks": 1})}
    workers = SupervisedWorkers(env, 2, tmp_path / "processors.log", free_port()).start()
    pipeline.redis = redis.RedisCluster(host="127.0.0.1", port=REDIS_PORT)
    stream = BackgroundStream(pipeline.kafka, seed=302, count=RECORDS, rate=RATE)
    try:
        workers.wait_serving()
        stream.start()
        wait_for(lambda: workers.scored() >= 5000, timeout=60, interval=0.1, message="5,000 records scored")
        before = _roles(cluster)
        victim = next(name for name, role in before.items() if role == "master")
        pid = {row.name: row.pid for row in cluster.status()}[victim]
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        killed_at = time.monotonic()
        wait_for(lambda: list(_roles(cluster).values()).count("master") == 3, timeout=30, interval=0.1,
                 message=f"a replica of {victim} promoted")  # fmt: skip
        failed_over = time.monotonic() - killed_at
        cluster.up()  # the killed node back, as an operator or a supervisor would: it rejoins as a replica
        assert _roles(cluster)[victim] == "slave"
        stream.finish()
        pipeline.wait_all_scored(stream.ids, timeout=180)
        healed = time.monotonic() - killed_at
        duplicates = messages_in(pipeline.kafka, pipeline.topics.predictions) - RECORDS
        matched = sum(scrape(port).get(("driftline_labels_total", (("outcome", "matched"),)), 0.0)
                      for port in workers.ports)  # fmt: skip
        assert matched > 0, "the label join found no prediction in the cluster"
        print(f"\nRedis primary {victim} killed under {RATE:,}/s: failed over in {failed_over:.1f}s; 0 of "
              f"{RECORDS:,} lost, {duplicates:,} scored twice, {workers.restarts()} worker restarts; all scored "
              f"{healed:.0f}s after the kill; {matched:,.0f} labels joined by the running workers")
    finally:
        stream.close()
        workers.stop()
        pipeline.redis.close()
