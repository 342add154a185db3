"""A broker lost for 45 s mid-stream, under two supervised workers: nothing lost, scoring resumes, the log stays small.

The broker is a Kafka of this module's own (its own ports and data), so the session's broker is never disturbed. It
is killed (-9) while the workers have tens of thousands of records still to score, stays away for 45 s (the outage
that once left every worker alive but scoring nothing, for good), and comes back on the same data. Every record
produced before and after must then be in Redis; the duplicates are reported.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from driftline.kafka_admin import ensure_topics
from driftline.settings import Settings, StackSettings
from driftline.sources import AgrawalSource
from harness.kafka_reading import messages_in
from harness.processes import SupervisedWorkers, free_port, settings_env
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
    try:  # inside: a start that fails half-way stops what it started
        kafka.up()
        yield kafka
    finally:
        kafka.down()


def _ids(seed: int, n: int) -> list[str]:
    return [str(r.record["id"]) for r in AgrawalSource(seed=seed).take(n)]


def test_a_45_s_broker_outage_loses_nothing_and_every_worker_scores_again(
    own_kafka: Stack, pipeline: Pipeline, tmp_path: Path
) -> None:
    port = own_kafka.settings.stack.kafka_port
    kafka = pipeline.kafka.model_copy(update={"bootstrap_servers": f"127.0.0.1:{port}"})
    pipeline.kafka = kafka
    ensure_topics(kafka)
    log_path = tmp_path / "processors.log"
    env = {**pipeline.env(), **settings_env(kafka={"bootstrap_servers": kafka.bootstrap_servers})}
    workers = SupervisedWorkers(env, 2, log_path, free_port()).start()
    try:
        workers.wait_serving()
        before, after = _ids(201, BEFORE), _ids(202, AFTER)
        pipeline.produce(AgrawalSource(seed=201), BEFORE)
        wait_for(lambda: workers.scored() >= 5000, timeout=60, interval=0.05, message="5,000 records scored")
        broker = {row.name: row.pid for row in own_kafka.status()}["kafka"]
        assert broker is not None
        os.kill(broker, signal.SIGKILL)
        lost_at, log_at_loss = time.monotonic(), log_path.stat().st_size
        waiting = sum(d is None for d in pipeline.stored(before))
        assert waiting > 10_000, f"only {waiting} records were left to score when the broker went away"

        # The outage itself: 45 s with no broker. Meanwhile the supervisor stays up.
        wait_for(lambda: time.monotonic() - lost_at >= OUTAGE_SECONDS or not workers.alive(),
                 timeout=OUTAGE_SECONDS + 5, interval=0.5, message="the outage")  # fmt: skip
        assert workers.alive(), workers.log()[-3000:]
        log_lines = log_path.read_bytes()[log_at_loss:].count(b"\n")
        own_kafka.up()  # the same broker, on its own data, back after the outage

        pipeline.produce(AgrawalSource(seed=202), AFTER)
        pipeline.wait_all_scored(before + after, timeout=240)
        duplicates = messages_in(kafka, pipeline.topics.predictions) - (BEFORE + AFTER)
        restarts = workers.restarts()
        print(f"\nbroker away {OUTAGE_SECONDS}s with {waiting:,} records waiting: 0 of {BEFORE + AFTER:,} lost, "
              f"{duplicates:,} scored twice, {restarts} worker restarts, {log_lines:,} log lines during the outage")
        assert log_lines < 3000, f"the outage flooded the log: {log_lines} lines in {OUTAGE_SECONDS}s"
    finally:
        workers.stop()
