"""A real 3-node KRaft cluster (`driftline stack up --brokers 3`): replicated topics, the leader of the records'
partitions killed (-9) under load with nothing lost and no worker left stalled, and the trainer's Kafka half (its
training window read back, a version announced) on the cluster.

The cluster is this module's own (its own ports and data); Redis, the registry and the workers are the session's.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka.admin import ConfigResource, ConfigResourceType

from driftline.kafka_admin import admin_client, ensure_topics
from driftline.messages import decode_model_update
from driftline.settings import KafkaSettings, Settings, StackSettings
from driftline.sources import AgrawalSource
from harness.kafka_reading import messages_in, read_topic
from harness.processes import SupervisedWorkers, free_port, settings_env
from harness.streaming import BackgroundStream
from harness.waiting import wait_for
from stack import Stack
from stack.process import port_open
from tests.integration.pipeline import Pipeline
from trainer.publish import publish_update
from trainer.recent_data import recent_labeled

pytestmark = pytest.mark.cluster  # also alone: `make test-cluster`

KAFKA_PORT, CONTROLLER_PORT = 29092, 29094  # nodes: 29092, 29102, 29112; controllers 29094, 29104, 29114
RECORDS, RATE = 60_000, 4_000


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    base = Settings()
    stack_settings = StackSettings(**{**base.stack.model_dump(), "data_dir": tmp_path_factory.mktemp("cluster"),
                                      "kafka_port": KAFKA_PORT, "kafka_controller_port": CONTROLLER_PORT,
                                      "kafka_brokers": 3})  # fmt: skip
    stack = Stack(base.model_copy(update={"stack": stack_settings}))
    for node in stack.kafka_nodes:
        for port in (node.port, *node.extra_ports):
            if port_open(port):
                pytest.fail(f"port {port} is busy before the cluster test; something else is running there")
    stack.services = list(stack.kafka_nodes)  # this module needs the brokers only
    try:  # inside: a start that fails half-way stops what it started
        stack.up()
        yield stack
    finally:
        stack.down()


def _on(cluster: Stack, kafka: KafkaSettings) -> KafkaSettings:
    return kafka.model_copy(update={"bootstrap_servers": cluster.bootstrap_servers, "replication_factor": 3})


def test_three_brokers_form_one_cluster_and_topics_are_replicated_three_times(cluster: Stack,
                                                                              pipeline: Pipeline) -> None:  # fmt: skip
    kafka = _on(cluster, pipeline.kafka)
    ensure_topics(kafka)
    admin = admin_client(kafka)
    try:
        assert len(admin.describe_cluster()["brokers"]) == 3

        def described() -> dict[str, Any] | None:  # every broker learns of a new topic a moment later
            (topic,) = admin.describe_topics([pipeline.topics.records])
            return topic if len(topic["partitions"]) == kafka.records_partitions else None

        topic = wait_for(described, timeout=30, interval=0.5, message="the records topic's partitions described")
        for partition in topic["partitions"]:
            assert len(partition["replica_nodes"]) == 3 and len(partition["isr_nodes"]) == 3, partition
        resource = ConfigResource(ConfigResourceType.TOPIC, pipeline.topics.records)
        configs = admin.describe_configs([resource], config_filter="all")["topic"][pipeline.topics.records]
        assert configs["min.insync.replicas"]["value"] == "2"  # acks=all survives one broker lost, not two
    finally:
        admin.close()


def _leader_of(kafka: KafkaSettings, topic: str, partition: int) -> int:
    admin = admin_client(kafka)
    try:
        (described,) = admin.describe_topics([topic])
        return int(next(p["leader_id"] for p in described["partitions"] if p["partition_index"] == partition))
    finally:
        admin.close()


def test_killing_the_leader_broker_under_load_loses_nothing(cluster: Stack, pipeline: Pipeline,
                                                           tmp_path: Path) -> None:  # fmt: skip
    kafka = _on(cluster, pipeline.kafka)
    pipeline.kafka = kafka
    ensure_topics(kafka)
    env = {**pipeline.env(), **settings_env(kafka={"bootstrap_servers": kafka.bootstrap_servers,
                                                   "replication_factor": 3})}  # fmt: skip
    workers = SupervisedWorkers(env, 2, tmp_path / "processors.log", free_port()).start()
    stream = BackgroundStream(kafka, seed=301, count=RECORDS, rate=RATE)
    try:
        workers.wait_serving()
        stream.start()
        wait_for(lambda: workers.scored() >= 5000, timeout=60, interval=0.1, message="5,000 records scored")
        leader = _leader_of(kafka, pipeline.topics.records, 0)
        pid = {row.name: row.pid for row in cluster.status()}[f"kafka-{leader}"]
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        killed_at = time.monotonic()
        stream.finish()
        pipeline.wait_all_scored(stream.ids, timeout=180)
        healed = time.monotonic() - killed_at
        survivors = KafkaSettings(**{**kafka.model_dump(), "bootstrap_servers": ",".join(
            f"127.0.0.1:{n.port}" for n in cluster.kafka_nodes if n.name != f"kafka-{leader}")})  # fmt: skip
        duplicates = messages_in(survivors, pipeline.topics.predictions) - RECORDS
        restarts = workers.restarts()
        print(f"\nleader broker {leader} of {pipeline.topics.records}[0] killed under {RATE:,}/s: 0 of {RECORDS:,} "
              f"lost, {duplicates:,} scored twice, {restarts} worker restarts; all scored {healed:.0f}s after the kill")
    finally:
        stream.close()
        workers.stop()
        cluster.up()  # the killed node back, for the next test and a clean down


def test_the_trainer_reads_its_window_and_announces_a_version_on_the_cluster(cluster: Stack,
                                                                             pipeline: Pipeline) -> None:  # fmt: skip
    kafka = _on(cluster, pipeline.kafka)
    pipeline.kafka = kafka
    ensure_topics(kafka)
    pipeline.produce(AgrawalSource(seed=303), 3_000)  # records and their labels, into the cluster
    window = recent_labeled(kafka, AgrawalSource().contract, 12_000)
    assert len(window) == 3_000 and window["id"].str.startswith("agr-303-").all()
    update = publish_update(kafka, pipeline.registry)  # acks=all: needs 2 of the 3 replicas in sync
    (heard,) = [decode_model_update(m.value) for m in read_topic(kafka, pipeline.topics.model_updates, expect=1)]
    assert heard == update
