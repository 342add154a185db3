"""`driftline stack` on a second stack of its own (other ports, other data dir): up, reuse, status, down."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from driftline.errors import StackError
from driftline.messages import prediction_key
from driftline.settings import Settings, StackSettings
from stack import Stack
from stack.process import pid_alive, port_open, terminate

PORTS = {"kafka_port": 19092, "kafka_controller_port": 19094, "redis_port": 16379,
         "prometheus_port": 19090, "alertmanager_port": 19093}  # fmt: skip


def _settings(data_dir: Path, **ports: int) -> Settings:
    base = Settings()
    stack = StackSettings(**{**base.stack.model_dump(), "data_dir": data_dir, **PORTS, **ports})
    return base.model_copy(update={"stack": stack})


@pytest.fixture(scope="module")
def second(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    for port in PORTS.values():
        if port_open(port):
            pytest.fail(f"port {port} is busy before the test; something else is running there")
    stack = Stack(_settings(tmp_path_factory.mktemp("stack")))
    yield stack
    stack.down()


def test_up_starts_all_four_healthy(second: Stack) -> None:
    rows = {row.name: row for row in second.up()}
    assert set(rows) == {"kafka", "redis", "prometheus", "alertmanager"}
    for row in rows.values():
        assert row.healthy, row
        assert row.owner == "driftline"
        assert row.pid is not None and pid_alive(row.pid)
        assert row.version
    assert rows["kafka"].version.startswith("3.9")


def test_up_again_reuses_what_runs(second: Stack) -> None:
    before = {row.name: row.pid for row in second.status()}
    after = {row.name: row.pid for row in second.up()}
    assert before == after


def test_another_stack_reuses_healthy_services_and_refuses_a_foreign_port(second: Stack, tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        other = Stack(_settings(tmp_path, redis_port=squatter.getsockname()[1]))
        with pytest.raises(StackError, match="not a healthy redis"):
            other.up()
    # Kafka of the second stack was reused, not started again, and is not the other stack's to stop.
    assert other.down() == []
    assert second.healthy()


def test_redis_keeps_every_prediction_across_a_restart(second: Stack) -> None:
    """The stack's Redis appends every write to its AOF (fsync every second, and at shutdown): a restart keeps them."""
    import redis

    client = redis.Redis(port=second.settings.stack.redis_port)
    keys = [prediction_key(second.settings.redis.key_prefix, f"kept-{i}") for i in range(50_000)]
    with client.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.set(key, b'{"score": 0.5}', ex=3600)
        pipe.execute()
    pid = {row.name: row.pid for row in second.status()}["redis"]
    assert pid is not None and terminate(pid)
    assert not second.service("redis").health().healthy
    second.up()
    assert {row.name: row.pid for row in second.status()}["redis"] not in (None, pid)  # a new process
    kept = sum(1 for value in client.mget(keys) if value is not None)
    assert kept == len(keys), f"{len(keys) - kept} of {len(keys)} predictions lost in a Redis restart"
    assert client.ttl(keys[0]) > 0  # expiry survives too


def test_down_stops_everything_it_started(second: Stack) -> None:
    pids = [row.pid for row in second.status()]
    assert sorted(second.down()) == ["alertmanager", "kafka", "prometheus", "redis"]
    for pid in pids:
        assert pid is not None and not pid_alive(pid)
    for port in PORTS.values():
        assert not port_open(port), f"port {port} still bound after down"
    rows = second.status()
    assert all(not row.healthy and row.owner == "-" for row in rows)
    assert second.down() == []
