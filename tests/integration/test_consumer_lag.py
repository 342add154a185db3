"""The processor groups' lag read from the real Kafka, outside any worker: by the exporter alone, and as the trainer
service serves it on /metrics (with its process metrics); a Kafka out of reach, then back."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
import time
from collections.abc import Awaitable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from prometheus_client import CollectorRegistry

from driftline.kafka_clients import client_options
from driftline.settings import KafkaSettings
from driftline.topics import ProcessorGroups, Topics
from harness.processes import ROOT, free_port, settings_env, stop_process
from harness.scrape import Samples, scrape
from harness.waiting import eventually, wait_for
from trainer.consumer_lag import ConsumerLagExporter


async def produce(kafka: KafkaSettings, topic: str, partition: int, n: int) -> None:
    producer = AIOKafkaProducer(acks="all", **client_options(kafka))
    await producer.start()
    try:
        for i in range(n):
            await producer.send(topic, b"%d" % i, partition=partition)
        await producer.flush()
    finally:
        await producer.stop()


async def commit(kafka: KafkaSettings, group: str, offsets: dict[TopicPartition, int]) -> None:
    """Commit for ``group`` as its members do, without joining it (a manual assignment)."""
    consumer = AIOKafkaConsumer(group_id=group, enable_auto_commit=False, **client_options(kafka))
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit(offsets)
    finally:
        await consumer.stop()


async def running(exporter: ConsumerLagExporter, scenario: Awaitable[None]) -> None:
    task = asyncio.get_running_loop().create_task(exporter.run())
    try:
        await scenario
        assert not task.done(), "the exporter's loop ended"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def test_lag_is_the_log_end_minus_the_committed_offset_and_drops_as_the_group_commits(
    kafka_settings: KafkaSettings, topics: Topics
) -> None:
    groups = ProcessorGroups.of(kafka_settings.topic_prefix)
    registry = CollectorRegistry(auto_describe=True)
    exporter = ConsumerLagExporter(kafka_settings, groups.topics(topics), registry, interval_seconds=0.1)
    n, k, labels = 50, 20, 7
    records_p0 = TopicPartition(topics.records, 0)
    partitions = {topics.records: kafka_settings.records_partitions, topics.labels: kafka_settings.labels_partitions}

    def lag(group: str, topic: str, partition: int) -> float | None:
        return registry.get_sample_value("driftline_consumer_group_lag",
                                         {"group": group, "topic": topic, "partition": str(partition)})  # fmt: skip

    def lags() -> dict[tuple[str, int], float | None]:
        return {(topic, p): lag(group, topic, p) for group, topic in groups.topics(topics).items()
                for p in range(partitions[topic])}  # fmt: skip

    def expected(records_behind: int, labels_behind: int) -> dict[tuple[str, int], float]:
        every = {(topic, p): 0.0 for topic, count in partitions.items() for p in range(count)}
        return {**every, (topics.records, 0): float(records_behind), (topics.labels, 2): float(labels_behind)}

    async def scenario() -> None:
        # the fresh topics are empty: every partition of both groups reads 0
        await eventually(lambda: lags() == expected(0, 0), timeout=30, message="0 on every partition")
        await produce(kafka_settings, topics.records, 0, n)
        await produce(kafka_settings, topics.labels, 2, labels)
        # no commit yet: counted from the log start
        await eventually(lambda: lags() == expected(n, labels), timeout=30, message=f"lag {n} and {labels}")
        await commit(kafka_settings, groups.records, {records_p0: k})
        await eventually(lambda: lags() == expected(n - k, labels), timeout=30, message=f"lag {n - k} after {k}")
        await commit(kafka_settings, groups.records, {records_p0: n})
        await commit(kafka_settings, groups.labels, {TopicPartition(topics.labels, 2): labels})
        await eventually(lambda: lags() == expected(0, 0), timeout=30, message="0 once the groups caught up")

    asyncio.run(running(exporter, scenario()))
    assert exporter.failures == 0
    assert registry.get_sample_value("driftline_consumer_group_lag_failures_total") == 0
    assert time.time() - 30 < (registry.get_sample_value("driftline_consumer_group_lag_timestamp_seconds") or 0)


def test_the_trainer_service_serves_the_groups_lag_and_its_process_metrics(
    kafka_settings: KafkaSettings, topics: Topics, tmp_path: Path
) -> None:
    """``python -m trainer serve`` with the test's topic prefix: the lag of records nobody consumed (no worker runs)."""
    port, n = free_port(), 40
    env = settings_env(kafka={"topic_prefix": kafka_settings.topic_prefix},
                       trainer={"port": port, "lag_interval_seconds": 0.5},
                       registry={"root": tmp_path / "registry"})  # fmt: skip
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTLINE_")}
    log_path = tmp_path / "trainer.log"
    spawned = time.time()
    with log_path.open("wb") as log:
        trainer = subprocess.Popen([sys.executable, "-m", "trainer", "serve"], cwd=ROOT, env={**clean, **env},
                                   stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        asyncio.run(produce(kafka_settings, topics.records, 3, n))
        group = ProcessorGroups.of(kafka_settings.topic_prefix).records
        key = ("driftline_consumer_group_lag", (("group", group), ("partition", "3"), ("topic", topics.records)))

        def served() -> Samples:
            assert trainer.poll() is None, log_path.read_text()[-3000:]
            samples = scrape(port)
            return samples if samples.get(key) == n else {}

        samples = wait_for(served, timeout=60, interval=0.2, message=f"lag {n} on the trainer's /metrics")
        assert samples[("process_resident_memory_bytes", ())] > 10 * 1024 * 1024
        assert samples[("process_cpu_seconds_total", ())] > 0
        assert samples[("process_open_fds", ())] >= 3
        assert spawned - 2 < samples[("process_start_time_seconds", ())] < time.time()  # /proc's boot time: whole s
    finally:
        code = stop_process(trainer, timeout=30)
    assert code == 0, log_path.read_text()[-3000:]  # the exporter's task stops with the service


async def forward(listen_port: int, target: tuple[str, int]) -> asyncio.Server:
    """A TCP proxy to ``target`` on ``listen_port``: a bootstrap address that works only while it runs."""

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*target)
        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer), return_exceptions=True)

    return await asyncio.start_server(handle, "127.0.0.1", listen_port)


def test_kafka_out_of_reach_is_logged_once_and_the_exporter_reads_again_once_it_answers(
    kafka_settings: KafkaSettings, topics: Topics, caplog: pytest.LogCaptureFixture
) -> None:
    """Nothing listens at the bootstrap address at first (Kafka down, as the exporter sees it): it keeps trying,
    serves no lag, logs one warning; then the address forwards to the real broker, and the lag is back."""
    host, real_port = kafka_settings.bootstrap_servers.split(",")[0].rsplit(":", 1)
    port = free_port()
    kafka = kafka_settings.model_copy(update={"bootstrap_servers": f"127.0.0.1:{port}", "request_timeout_ms": 2000})
    groups = ProcessorGroups.of(kafka.topic_prefix)
    registry = CollectorRegistry(auto_describe=True)
    exporter = ConsumerLagExporter(kafka, groups.topics(topics), registry, interval_seconds=0.1)
    labels = {"group": groups.records, "topic": topics.records, "partition": "1"}
    caplog.set_level(logging.INFO, logger="trainer.consumer_lag")

    def ours(level: int) -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.name == "trainer.consumer_lag" and r.levelno == level]

    async def scenario() -> None:
        await eventually(lambda: exporter.failures >= 10, timeout=60, message="ten failed readings")
        assert registry.get_sample_value("driftline_consumer_group_lag", labels) is None
        assert registry.get_sample_value("driftline_consumer_group_lag_failures_total") == exporter.failures
        assert len(ours(logging.WARNING)) == 1, [r.getMessage() for r in ours(logging.WARNING)]
        assert f"127.0.0.1:{port}" in ours(logging.WARNING)[0].getMessage()
        await produce(kafka_settings, topics.records, 1, 5)
        proxy = await forward(port, (host, int(real_port)))
        try:
            await eventually(lambda: registry.get_sample_value("driftline_consumer_group_lag", labels) == 5,
                             timeout=30, message="lag 5 once Kafka answers")  # fmt: skip
        finally:
            proxy.close()
            await proxy.wait_closed()
        assert len(ours(logging.WARNING)) == 1
        assert [r.getMessage() for r in ours(logging.INFO)] == ["consumer lag: reading the groups' offsets again"]

    asyncio.run(running(exporter, scenario()))
