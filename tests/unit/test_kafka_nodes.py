"""The stack's Kafka nodes: one alone, or a KRaft cluster whose nodes agree on voters, ports and replication."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftline.settings import Settings, StackSettings
from stack import Stack
from stack.kafka import KafkaService


def settings(tmp_path: Path, brokers: int) -> Settings:
    base = Settings()
    stack = StackSettings(**{**base.stack.model_dump(), "data_dir": tmp_path, "kafka_brokers": brokers})
    return base.model_copy(update={"stack": stack})


def properties(node: KafkaService) -> dict[str, str]:
    node.dir.mkdir(parents=True, exist_ok=True)
    node._write_config()
    return dict(line.split("=", 1) for line in node.properties.read_text().splitlines())


def test_a_single_node_keeps_its_name_ports_and_replication_of_one(tmp_path: Path) -> None:
    (node,) = Stack(settings(tmp_path, 1)).kafka_nodes
    config = properties(node)
    assert node.name == "kafka" and node.port == 9092 and node.extra_ports == [9094]
    assert config["node.id"] == "1" and config["controller.quorum.voters"] == "1@127.0.0.1:9094"
    assert config["offsets.topic.replication.factor"] == "1" and config["min.insync.replicas"] == "1"


def test_three_nodes_are_one_cluster_of_voters_with_replication_three(tmp_path: Path) -> None:
    stack = Stack(settings(tmp_path, 3))
    configs = [properties(node) for node in stack.kafka_nodes]
    assert [n.name for n in stack.kafka_nodes] == ["kafka-1", "kafka-2", "kafka-3"]  # no single node's data reused
    assert [n.port for n in stack.kafka_nodes] == [9092, 9102, 9112]
    assert stack.bootstrap_servers == "127.0.0.1:9092,127.0.0.1:9102,127.0.0.1:9112"
    voters = "1@127.0.0.1:9094,2@127.0.0.1:9104,3@127.0.0.1:9114"
    for i, config in enumerate(configs):
        assert config["node.id"] == str(i + 1) and config["controller.quorum.voters"] == voters
        assert config["listeners"] == f"PLAINTEXT://127.0.0.1:{9092 + 10 * i},CONTROLLER://127.0.0.1:{9094 + 10 * i}"
        assert config["default.replication.factor"] == "3" and config["min.insync.replicas"] == "2"
        assert config["transaction.state.log.min.isr"] == "2"
    assert len({n.dir for n in stack.kafka_nodes}) == 3


def test_status_and_down_see_the_brokers_the_stack_was_started_with(tmp_path: Path) -> None:
    (tmp_path / "kafka-brokers").write_text("3")  # recorded by an `up --brokers 3`, but nothing of it runs now
    assert Stack(settings(tmp_path, 1)).brokers == 1  # so the settings decide


def test_a_node_outside_its_cluster_is_refused() -> None:
    with pytest.raises(ValueError, match=r"node must be in 0\.\.2"):
        KafkaService(Settings(), 3, 3)


def test_a_cluster_id_never_starts_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    """kafka-storage's parser reads an id starting with '-' as an option (base64url: a first byte 0xF8-0xFB)."""
    import uuid

    import stack.kafka as kafka_module

    drawn = iter([uuid.UUID(bytes=b"\xf8" + bytes(15)), uuid.UUID(bytes=b"\x10" + bytes(15))])
    monkeypatch.setattr(kafka_module.uuid, "uuid4", lambda: next(drawn))
    cluster_id = kafka_module._kafka_uuid()
    assert cluster_id == "EAAAAAAAAAAAAAAAAAAAAA" and len(cluster_id) == 22
