"""A secured Kafka of the test session's own (`driftline stack up --secure`'s broker: SASL_SSL, SCRAM-SHA-512, a CA
made at set-up), on ports nothing else uses; fixtures imported by conftest.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from driftline.kafka_admin import ensure_topics, specs_for
from driftline.registry import Registry
from driftline.settings import KafkaSettings, Settings, StackSettings
from driftline.topics import Topics
from harness.topics import delete_prefixed_topics
from stack import Stack
from stack.process import port_open
from tests.integration.pipeline import Pipeline

SECURE_KAFKA_PORT, SECURE_CONTROLLER_PORT = 29192, 29194


@pytest.fixture(scope="session")
def secure_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The broker, started once per session and stopped at its end; only Kafka (Redis is the session's)."""
    base = Settings()
    stack_settings = StackSettings(**{**base.stack.model_dump(), "data_dir": tmp_path_factory.mktemp("secure-stack"),
                                      "kafka_port": SECURE_KAFKA_PORT, "kafka_controller_port": SECURE_CONTROLLER_PORT,
                                      "kafka_brokers": 1, "secure": True})  # fmt: skip
    stack = Stack(base.model_copy(update={"stack": stack_settings}))
    for port in (SECURE_KAFKA_PORT, SECURE_CONTROLLER_PORT):
        if port_open(port):
            pytest.fail(f"port {port} is busy before the secured Kafka starts; something else is running there")
    stack.services = list(stack.kafka_nodes)
    try:  # inside: a start that fails half-way stops what it started
        stack.up()
        yield stack
    finally:
        stack.down()


@pytest.fixture
def secure_kafka_settings(secure_kafka: Stack, unique: str) -> Iterator[KafkaSettings]:
    """The secured broker's client settings (as `up --secure` hands them out), a topic prefix of the test's own, its
    topics created and deleted afterwards."""
    kafka = secure_kafka.kafka_nodes[0].client_settings().model_copy(update={"topic_prefix": f"test-{unique}."})
    ensure_topics(kafka, specs_for(kafka))
    yield kafka
    delete_prefixed_topics(kafka)


@pytest.fixture
def secure_pipeline(secure_kafka_settings: KafkaSettings, serving_registry: Registry, redis_client: redis.Redis,
                    settings: Settings, unique: str, tmp_path: Path) -> Iterator[Pipeline]:  # fmt: skip
    p = Pipeline(secure_kafka_settings, Topics(secure_kafka_settings.topic_prefix), f"test-{unique}:",
                 serving_registry, redis_client, tmp_path, settings.redis.url, [])  # fmt: skip
    yield p
    for worker in p.workers:
        worker.stop()
    keys = list(redis_client.scan_iter(f"{p.key_prefix}*", count=10_000))
    for i in range(0, len(keys), 10_000):
        redis_client.delete(*keys[i : i + 10_000])
