"""A broker lost for 45 s mid-stream, under two supervised workers: nothing lost, scoring resumes, the log stays small.

The broker is a Kafka of this module's own (its own ports and data), so the session's broker is never disturbed. It
is killed (-9) while the workers have tens of thousands of records still to score, stays away for 45 s (the outage
that once left every worker alive but scoring nothing, for good), and comes back on the same data. Every record
produced before and after must then be in Redis; the duplicates are reported.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from driftline.kafka_admin import ensure_topics
from driftline.kafka_clients import client_options
from driftline.settings import KafkaSettings, Settings, StackSettings
from driftline.sources import AgrawalSource
from harness.processes import ROOT, free_port, settings_env
from harness.scrape import scrape, serving_version
from harness.waiting import wait_for
from stack import Stack
from tests.integration.pipeline import Pipeline

OUTAGE_SECONDS = 45
BEFORE, AFTER = 60_000, 10_000  # records produced before the outage, and after it


@pytest.fixture(scope="module")
def own_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    base = Settings()
    ports = {"kafka_port": free_port(), "kafka_controller_port": free_port()}
    stack = StackSettings(**{**base.stack.model_dump(), "data_dir": tmp_path_factory.mktemp("kafka"), **ports})
    kafka = Stack(base.model_copy(update={"stack": stack}))
    kafka.services = [kafka.service("kafka")]  # this module needs a broker of its own, nothing else
    kafka.up()
    try:
        yield kafka
    finally:
        kafka.down()


def _ids(seed: int, n: int) -> list[str]:
    return [str(r.record["id"]) for r in AgrawalSource(seed=seed).take(n)]


def _messages_in(kafka: KafkaSettings, topic: str) -> int:
    consumer = KafkaConsumer(**client_options(kafka))
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return sum(consumer.end_offsets(partitions).values())
    finally:
        consumer.close()


def test_a_45_s_broker_outage_loses_nothing_and_every_worker_scores_again(
    own_kafka: Stack, pipeline: Pipeline, tmp_path: Path
) -> None:
    port = own_kafka.settings.stack.kafka_port
    kafka = pipeline.kafka.model_copy(update={"bootstrap_servers": f"127.0.0.1:{port}"})
    pipeline.kafka = kafka
    ensure_topics(kafka)
    metrics_base = free_port()
    env = {**pipeline.env(), **settings_env(kafka={"bootstrap_servers": kafka.bootstrap_servers},
                                            processor={"metrics_port_base": metrics_base})}  # fmt: skip
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTLINE_")}
    log_path = tmp_path / "processors.log"
    with log_path.open("wb") as log:
        supervisor = subprocess.Popen([sys.executable, "-m", "processors", "run", "--workers", "2"], cwd=ROOT,
                                      env={**clean, **env}, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    ports = [metrics_base, metrics_base + 1]

    def scored() -> float:
        return sum(scrape(p).get(("driftline_records_total", (("outcome", "scored"),)), 0.0) for p in ports)

    try:
        wait_for(lambda: all(serving_version(scrape(p)) is not None for p in ports), timeout=120, interval=0.5,
                 message="both supervised workers serving")  # fmt: skip
        before, after = _ids(201, BEFORE), _ids(202, AFTER)
        pipeline.produce(AgrawalSource(seed=201), BEFORE)
        wait_for(lambda: scored() >= 5000, timeout=60, interval=0.05, message="5,000 records scored")
        broker = {row.name: row.pid for row in own_kafka.status()}["kafka"]
        assert broker is not None
        os.kill(broker, signal.SIGKILL)
        lost_at, log_at_loss = time.monotonic(), log_path.stat().st_size
        waiting = sum(d is None for d in pipeline.stored(before))
        assert waiting > 10_000, f"only {waiting} records were left to score when the broker went away"

        # The outage itself: 45 s with no broker. Meanwhile the supervisor stays up.
        wait_for(lambda: time.monotonic() - lost_at >= OUTAGE_SECONDS or supervisor.poll() is not None,
                 timeout=OUTAGE_SECONDS + 5, interval=0.5, message="the outage")  # fmt: skip
        assert supervisor.poll() is None, log_path.read_text(errors="replace")[-3000:]
        log_lines = log_path.read_bytes()[log_at_loss:].count(b"\n")
        own_kafka.up()  # the same broker, on its own data, back after the outage

        pipeline.produce(AgrawalSource(seed=202), AFTER)
        pipeline.wait_all_scored(before + after, timeout=240)
        duplicates = _messages_in(kafka, pipeline.topics.predictions) - (BEFORE + AFTER)
        restarts = log_path.read_text(errors="replace").count("restarting in")
        print(f"\nbroker away {OUTAGE_SECONDS}s with {waiting:,} records waiting: 0 of {BEFORE + AFTER:,} lost, "
              f"{duplicates:,} scored twice, {restarts} worker restarts, {log_lines:,} log lines during the outage")
        assert log_lines < 3000, f"the outage flooded the log: {log_lines} lines in {OUTAGE_SECONDS}s"
    finally:
        supervisor.send_signal(signal.SIGTERM)
        try:
            supervisor.wait(timeout=60)
        except subprocess.TimeoutExpired:
            supervisor.kill()
            supervisor.wait()
