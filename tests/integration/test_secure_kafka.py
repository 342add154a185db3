"""Every Kafka client of the project on a secured broker (SASL_SSL, SCRAM-SHA-512, the stack's own CA), with the
project's settings alone: the producer (confluent-kafka), a worker (aiokafka and faust), the admin and the trainer's
reader and announcer (kafka-python), the lag exporter (aiokafka's admin); and wrong settings failing in one line."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from pydantic import SecretStr

from driftline.errors import ConfigError, DriftlineError
from driftline.kafka_admin import admin_client
from driftline.kafka_clients import check_kafka
from driftline.redis_clients import sync_client
from driftline.registry import Registry
from driftline.settings import KafkaSettings, RedisSettings, Settings, TrainerSettings
from driftline.sources import AgrawalSource
from harness.kafka_reading import read_topic
from harness.processes import ROOT, kafka_env
from harness.waiting import eventually
from stack import Stack
from stack.tls import CertificateAuthority
from tests.integration.pipeline import Pipeline
from trainer.app import build_retrain
from trainer.request import RetrainRequest

N = 2_000
REFUSAL_DEADLINE = 30.0  # seconds a refused client may take to say so (its own timeouts are longer: not a hang)


def test_the_broker_refuses_plaintext_and_accepts_the_stacks_settings(secure_kafka: Stack) -> None:
    kafka = secure_kafka.kafka_nodes[0].client_settings()
    assert kafka.security_protocol == "SASL_SSL" and check_kafka(kafka)
    env_file = secure_kafka.env_file.read_text()
    assert f"DRIFTLINE_KAFKA__SASL_PASSWORD={kafka.sasl_password.get_secret_value()}" in env_file  # type: ignore[union-attr]
    assert oct(secure_kafka.env_file.stat().st_mode & 0o777) == "0o600"
    with pytest.raises(ConfigError, match="certificate is not trusted by the system's CAs"):  # no CA file set
        check_kafka(kafka.model_copy(update={"ssl_cafile": None}), timeout=10)
    plaintext = KafkaSettings(bootstrap_servers=kafka.bootstrap_servers, request_timeout_ms=3000)
    with pytest.raises(DriftlineError, match="cannot reach Kafka"):  # no broker serves a plaintext client
        admin_client(plaintext).close()


def test_records_are_scored_into_redis_through_the_secured_broker(secure_pipeline: Pipeline) -> None:
    source = AgrawalSource(seed=61)
    worker = secure_pipeline.worker()
    secure_pipeline.produce(source, N)
    ids = [item.record["id"] for item in source.take(N)]
    stored = secure_pipeline.wait_all_scored(ids)
    assert len(stored) == N and {d["version"] for d in stored} == {secure_pipeline.registry.alias("production").version}  # type: ignore[union-attr]
    predictions = read_topic(secure_pipeline.kafka, secure_pipeline.topics.predictions, expect=N)
    assert {m.key.decode() for m in predictions} == set(ids)
    assert worker.alive()


def test_records_are_scored_through_the_secured_broker_into_the_secured_redis(secure_pipeline: Pipeline,
                                                                            secure_redis: RedisSettings) -> None:
    """The whole path of `driftline stack up --secure`: SASL_SSL Kafka in, Redis with an ACL user and TLS out."""
    login = secure_redis.model_copy(update={"key_prefix": secure_pipeline.key_prefix})
    secure_pipeline.redis_url, secure_pipeline.redis_login, secure_pipeline.redis = login.url, login, sync_client(login)
    try:
        secure_pipeline.worker()
        source = AgrawalSource(seed=63)
        secure_pipeline.produce(source, 1000)
        stored = secure_pipeline.wait_all_scored([item.record["id"] for item in source.take(1000)], timeout=120)
        assert len(stored) == 1000 and all("score" in document for document in stored)
    finally:
        secure_pipeline.redis.close()


def test_a_retrain_reads_its_labeled_data_from_the_secured_broker_and_announces_there(
    secure_pipeline: Pipeline, registry: Registry, settings: Settings
) -> None:
    champion = registry.alias("production").version  # type: ignore[union-attr]
    secure_pipeline.produce(AgrawalSource(seed=311, function=2), 12_000)  # the world changed: function 2, not 1
    trainer = TrainerSettings(**{**settings.trainer.model_dump(), "retrain_window": 12_000, "max_epochs": 15})
    retrain = build_retrain(settings.model_copy(update={
        "kafka": secure_pipeline.kafka, "trainer": trainer,
        "registry": settings.registry.model_copy(update={"root": registry.root}),
    }), registry)  # fmt: skip
    result = retrain(RetrainRequest("test: drift on the secured broker"))
    assert result.rows == 12_000 and result.outcome == "promoted", result
    assert registry.alias("production").version == result.new_version != champion  # type: ignore[union-attr]
    update = orjson.loads(read_topic(secure_pipeline.kafka, secure_pipeline.topics.model_updates, expect=1)[-1].value)
    assert update["version"] == result.new_version


def test_the_lag_exporter_reads_a_groups_lag_from_the_secured_broker(secure_pipeline: Pipeline) -> None:
    from prometheus_client import CollectorRegistry

    from trainer.consumer_lag import ConsumerLagExporter, PartitionLag

    secure_pipeline.produce(AgrawalSource(seed=62), 300)

    async def reading() -> list[PartitionLag]:  # the exporter as the trainer runs it, until its first reading
        exporter = ConsumerLagExporter(secure_pipeline.kafka, {"test-nobody-yet": secure_pipeline.topics.records},
                                       CollectorRegistry(), interval_seconds=0.5)  # fmt: skip
        task = asyncio.create_task(exporter.run())
        try:
            return await eventually(lambda: exporter.readings, timeout=60, interval=0.2, message="a lag reading")
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    readings = asyncio.run(reading())
    assert len(readings) == secure_pipeline.kafka.records_partitions and sum(r.lag for r in readings) == 300


def _wrong_password(kafka: KafkaSettings, tmp_path: Path) -> KafkaSettings:
    return kafka.model_copy(update={"sasl_password": SecretStr("not-the-password")})


def _untrusted(kafka: KafkaSettings, tmp_path: Path) -> KafkaSettings:
    other = CertificateAuthority.ensure(tmp_path / "other-ca", name="a CA the broker never heard of")
    return kafka.model_copy(update={"ssl_cafile": other.cert})


COMMANDS = {
    "admin (kafka-python)": [str(Path(sys.executable).parent / "driftline"), "topics", "create"],
    "producer (confluent-kafka)": [str(Path(sys.executable).parent / "driftline"), "produce", "--count", "10", "-q"],
    "worker (aiokafka, faust)": [sys.executable, "-m", "processors", "worker"],
    "supervisor": [str(Path(sys.executable).parent / "driftline"), "process", "--workers", "1"],
    "trainer (kafka-python, aiokafka)": [sys.executable, "-m", "trainer", "serve"],
}


@pytest.mark.parametrize("wrong", [_wrong_password, _untrusted], ids=["wrong password", "untrusted certificate"])
@pytest.mark.parametrize("command", list(COMMANDS), ids=list(COMMANDS))
def test_wrong_settings_fail_in_one_line_not_a_hang(secure_kafka_settings: KafkaSettings, settings: Settings,
                                                    tmp_path: Path, wrong: object, command: str) -> None:  # fmt: skip
    kafka = wrong(secure_kafka_settings, tmp_path)  # type: ignore[operator]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTLINE_")} | kafka_env(kafka)
    env |= {"DRIFTLINE_KAFKA__TOPIC_PREFIX": kafka.topic_prefix, "DRIFTLINE_STACK__DATA_DIR": str(tmp_path / "stack"),
            "DRIFTLINE_REDIS__URL": settings.redis.url}  # fmt: skip
    started = time.monotonic()
    result = subprocess.run(COMMANDS[command], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=REFUSAL_DEADLINE + 60)  # fmt: skip
    took = time.monotonic() - started
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    expected = "refused the login of user 'driftline'" if wrong is _wrong_password else "certificate is not trusted"
    assert result.returncode == (2 if command.startswith("trainer") else 1), result.stderr[-3000:]
    assert len(lines) == 1 and expected in lines[0] and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert took < REFUSAL_DEADLINE, f"took {took:.0f}s: {lines}"
