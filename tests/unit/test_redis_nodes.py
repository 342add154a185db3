"""The stack's Redis nodes: one server, or six in cluster mode on consecutive ports with a bus port each."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftline.settings import RedisSettings, Settings, StackSettings
from stack import Stack
from stack.services import RedisService


def settings(tmp_path: Path, cluster: bool) -> Settings:
    base = Settings()
    stack = StackSettings(**{**base.stack.model_dump(), "data_dir": tmp_path, "redis_cluster": cluster})
    return base.model_copy(update={"stack": stack})


def option(command: list[str], name: str) -> str | None:
    return command[command.index(name) + 1] if name in command else None


def test_one_server_keeps_its_name_port_and_persistence(tmp_path: Path) -> None:
    (node,) = Stack(settings(tmp_path, cluster=False)).redis_nodes
    command = node.command()
    assert node.name == "redis" and node.port == 6379 and node.extra_ports == []
    assert option(command, "--appendonly") == "yes" and option(command, "--appendfsync") == "everysec"
    assert option(command, "--cluster-enabled") is None


def test_a_cluster_is_six_nodes_on_consecutive_ports_each_with_its_bus_port_and_data(tmp_path: Path) -> None:
    stack = Stack(settings(tmp_path, cluster=True))
    assert [n.name for n in stack.redis_nodes] == [f"redis-{i}" for i in range(1, 7)] and stack.redis_clustered
    assert [n.port for n in stack.redis_nodes] == list(range(6379, 6385))
    assert [n.extra_ports for n in stack.redis_nodes] == [[p] for p in range(16379, 16385)]
    for node in stack.redis_nodes:
        command = node.command()
        assert option(command, "--cluster-enabled") == "yes"
        assert option(command, "--cluster-config-file") == str(node.dir / "nodes.conf")
        assert option(command, "--appendonly") == "yes"  # a primary's data survives its restart too
    assert len({n.dir for n in stack.redis_nodes}) == 6


def test_status_and_down_see_the_redis_nodes_the_stack_was_started_with(tmp_path: Path) -> None:
    (tmp_path / "redis-nodes").write_text("6")  # recorded by an `up --redis-cluster`, but nothing of it runs now
    assert not Stack(settings(tmp_path, cluster=False)).redis_clustered  # so the settings decide


def test_a_node_outside_its_cluster_is_refused() -> None:
    with pytest.raises(ValueError, match=r"node must be in 0\.\.5"):
        RedisService(Settings(), 6, 6)


def test_replica_acks_are_settings_of_their_own() -> None:
    assert RedisSettings().replica_acks == 0 and not RedisSettings().cluster  # one server, no waiting: as before
    with pytest.raises(ValueError):
        RedisSettings(replica_acks=-1)
