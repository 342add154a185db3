"""`make bench`: the streaming path end to end on the local stack, every figure measured in the same run.

1. drain rate of one processor worker on a pre-filled records topic, beside
   (a) the floor: an aiokafka consumer writing the same raw records to Redis (no validation, no model), and
   (b) the naive baseline: a consumer calling ``model.predict`` per record (over a sample);
2. the same drain with two workers (of twice as many records, produced once both hold their partitions);
3. end-to-end latency p50/p95/p99 (event time → prediction written; measured per record from the predictions
   topic's timestamps) while the producer holds 1,000 and 5,000 records/s, each record's label following 1 s
   later; and 5,000 records/s without labels, to show what the labels' share of the 2 cores costs. Each is split
   at the moment the broker appended the record (the records topic keeps LogAppendTime here): producer → Kafka
   log, and Kafka log → prediction; and the CPU each process used meanwhile, and the share the hypervisor
   gave to other guests (steal), are read from /proc;
   5,000 records/s with labels is run twice in a row: as is, then with the producer pinned to one CPU
   (driftline/affinity.py; ``driftline produce --cpu``);
4. the worker's resident memory after 5 minutes under load.

Prints a table and writes ``bench/results/stream.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import platform
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import redis
from rich.console import Console

from bench.procfs import cpu_seconds, host_ticks, rss_mb
from bench.stream_table import report
from driftline.affinity import cpu_for, pinned
from driftline.bundle import ModelBundle
from driftline.kafka_admin import ensure_topics, specs_for
from driftline.kafka_clients import client_options
from driftline.registry import Registry
from driftline.settings import KafkaSettings, Settings
from driftline.sources import AgrawalSource
from driftline.topics import Topics
from harness.processes import WorkerProcess, free_port, settings_env
from harness.topics import delete_prefixed_topics
from harness.waiting import wait_for
from producers.producer import ProduceOptions, RecordProducer
from stack import Stack

RESULTS = Path(__file__).parent / "results"
console = Console()


def bench_registry(root: Path) -> Registry:
    """The registry's production model, or a quickly trained one (the model's quality does not matter here)."""
    registry = Registry(root, "driftline")
    if registry.alias("production") is None:
        from trainer.release import register_candidate
        from trainer.training import TrainConfig, fit_candidate

        source = AgrawalSource(seed=7)
        console.print("training a model for the benchmark ...")
        candidate = fit_candidate(source.frame(20_000), source.contract, TrainConfig(max_epochs=10))
        register_candidate(registry, candidate, source_description=repr(source), promote=True)
    return registry


class Bench:
    def __init__(self, settings: Settings, registry: Registry, work: Path) -> None:
        self.settings = settings
        self.registry = registry
        self.work = work
        self.prefix = f"bench-{uuid.uuid4().hex[:8]}."
        self.kafka: KafkaSettings = settings.kafka.model_copy(update={"topic_prefix": self.prefix})
        self.topics = Topics(self.prefix)
        self.redis = redis.Redis.from_url(settings.redis.url)
        self.workers: list[WorkerProcess] = []
        self.produced = 0  # records written to the records topic so far
        # The broker stamps each record when it appends it, which splits a record's latency into its two halves.
        specs = [dataclasses.replace(s, config={**s.config, "message.timestamp.type": "LogAppendTime"})
                 if s.name == self.topics.records else s for s in specs_for(self.kafka)]  # fmt: skip
        ensure_topics(self.kafka, specs)

    def worker(self, index: int, group: str) -> WorkerProcess:
        port = free_port()
        env = settings_env(
            kafka={"topic_prefix": self.prefix},
            redis={"key_prefix": f"{self.prefix}{group}:"},
            registry={"root": self.registry.root},
            stack={"data_dir": self.work / "stack"},
            processor={"metrics_port_base": port - index, "group_id": f"{self.prefix}{group}"},
        )
        worker = WorkerProcess(env, index, self.work, port).start()
        self.workers.append(worker)
        return worker

    def produce(self, n: int, *, rate: float | None = None, seed: int = 11, labels: bool = False,
                label_delay: float = 1.0, cpu: int | None = None) -> float:  # fmt: skip
        with pinned(cpu):  # librdkafka's threads start pinned too, and stop with the producer
            producer = RecordProducer(self.kafka)
            try:
                report = producer.run(
                    AgrawalSource(seed=seed),
                    ProduceOptions(count=n, rate=rate, send_labels=labels, label_delay_seconds=label_delay),
                )
            finally:
                producer.close()
        self.produced += n
        return report.rate

    def drain(self, n: int, workers: int, group: str) -> tuple[float, int]:
        """Records/s of ``workers`` processes draining n records, from the first scored (with several workers:
        from when the producer finished) to the last. Returns the rate and how many records it counts.

        One worker drains the pre-filled topic. Several must first share the partitions: the first to join the
        group would otherwise drain alone until the group rebalances, possibly most of a pre-filled backlog
        before the split (docs/performance.md). So the group starts at the end of the
        topic, the workers join and split its partitions, and only then are n more records produced, at full
        speed; the rate counts the records scored after the producer finished, when the workers have the CPUs
        to themselves (the workers drain while the producer runs: pass an n that leaves them enough)."""
        if workers > 1:
            self.commit_end(group)
        started = [self.worker(i, group) for i in range(workers)]
        for w in started:
            w.wait_serving(timeout=180)
        scored = ("driftline_records_total", (("outcome", "scored"),))
        held = ("driftline_assigned_partitions", (("topic", self.topics.records),))

        def done() -> float:
            return sum(w.metrics().get(scored, 0.0) for w in started)

        first: float | None = None
        first_count = 0.0
        if workers > 1:

            def split() -> bool:
                shares = [w.metrics().get(held, 0.0) for w in started]
                return all(shares) and sum(shares) == self.kafka.records_partitions

            wait_for(split, timeout=120, interval=0.05, message=f"{workers} workers splitting the partitions")
            self.produce(n)
            first, first_count = time.monotonic(), done()
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            count = done()
            now = time.monotonic()
            if first is None and count > 0:
                first, first_count = now, count
            if count >= n:
                break
            time.sleep(0.05)
        else:
            raise RuntimeError(f"{workers} worker(s) did not drain {n} records in 900 s")
        for w in started:
            w.stop()
        if first is None or n - first_count < n / 4:
            raise RuntimeError(f"{workers} workers drained most of the {n} records while they were produced; "
                               "pre-fill more (--records)")  # fmt: skip
        return (n - first_count) / max(now - first, 1e-9), int(n - first_count)

    def commit_end(self, group: str) -> None:
        """Commit the end of the records topic for the worker group ``group`` (before any worker joins it)."""
        from kafka import KafkaConsumer, TopicPartition
        from kafka.structs import OffsetAndMetadata

        consumer = KafkaConsumer(group_id=f"{self.prefix}{group}", enable_auto_commit=False,
                                 **client_options(self.kafka))  # fmt: skip
        try:
            parts = [TopicPartition(self.topics.records, p) for p in range(self.kafka.records_partitions)]
            consumer.assign(parts)
            consumer.seek_to_end()
            consumer.commit({tp: OffsetAndMetadata(consumer.position(tp)) for tp in parts})
        finally:
            consumer.close()

    def floor(self, n: int) -> float:
        """aiokafka → Redis, raw bytes, one pipeline per fetched batch: what the plumbing alone costs."""
        from aiokafka import AIOKafkaConsumer

        async def run() -> float:
            client = redis.asyncio.Redis.from_url(self.settings.redis.url)
            consumer = AIOKafkaConsumer(self.topics.records, group_id=f"{self.prefix}floor", enable_auto_commit=False,
                                        auto_offset_reset="earliest", **client_options(self.kafka))  # fmt: skip
            await consumer.start()
            count, first = 0, None
            try:
                while count < n:
                    batches = await consumer.getmany(timeout_ms=1000, max_records=1000)
                    for records in batches.values():
                        if first is None:
                            first = time.perf_counter()
                        async with client.pipeline(transaction=False) as pipe:
                            for r in records:
                                pipe.set(f"{self.prefix}floor:{r.key.decode()}", r.value, ex=600)
                            await pipe.execute()
                        count += len(records)
                    if batches:
                        await consumer.commit()
                return count / (time.perf_counter() - (first or time.perf_counter()))
            finally:
                await consumer.stop()
                await client.aclose()

        return asyncio.run(run())

    def naive(self, sample: int) -> float:
        """Per record: parse, preprocess one row, ``model.predict``, one Redis SET — the approach we replace."""
        from kafka import KafkaConsumer

        bundle = ModelBundle.load_production(self.registry)
        model = bundle.scorer.model
        consumer = KafkaConsumer(self.topics.records, group_id=f"{self.prefix}naive", auto_offset_reset="earliest",
                                 enable_auto_commit=False, max_poll_records=100,
                                 **client_options(self.kafka))  # fmt: skip
        from driftline.validation import Validator

        validator = Validator(bundle.contract)
        count, started = 0, time.perf_counter()
        try:
            while count < sample:
                for records in consumer.poll(timeout_ms=1000).values():
                    for r in records[: sample - count]:
                        batch, _ = validator.validate_batch([r.value])
                        x = bundle.preprocessor.transform(batch.columns)
                        score = float(model.predict(x, verbose=0)[0][0])
                        self.redis.set(f"{self.prefix}naive:{r.key.decode()}", orjson.dumps({"score": score}), ex=600)
                        count += 1
        finally:
            consumer.close()
        return count / (time.perf_counter() - started)

    def latency(self, rate: float, seconds: float, seed: int, *, labels: bool = True, processes: dict[str, int],
                producer_cpu: int | None = None) -> dict[str, Any]:  # fmt: skip
        """Hold ``rate`` records/s (labels following after 1 s) and read every prediction's latency, in two halves.

        ``processes`` names the pids whose CPU use is read meanwhile (the producer is this process);
        ``producer_cpu`` pins the producer to that CPU for the run.
        """
        from kafka import KafkaConsumer, TopicPartition

        consumer = KafkaConsumer(**client_options(self.kafka), enable_auto_commit=False)
        parts = [TopicPartition(self.topics.predictions, p) for p in range(self.kafka.predictions_partitions)]
        parts += [TopicPartition(self.topics.records, p) for p in range(self.kafka.records_partitions)]
        consumer.assign(parts)
        consumer.seek_to_end()
        for tp in parts:
            consumer.position(tp)
        n = int(rate * seconds)
        cpu_before, started = {name: cpu_seconds(pid) for name, pid in processes.items()}, time.monotonic()
        host_before = host_ticks()
        achieved = self.produce(n, rate=rate, seed=seed, labels=labels, cpu=producer_cpu)
        wall = time.monotonic() - started
        cpu = {name: (cpu_seconds(pid) - cpu_before[name]) / wall for name, pid in processes.items()}
        host = [after - before for before, after in zip(host_before, host_ticks(), strict=True)]
        predicted: dict[bytes, tuple[int, int]] = {}  # id → (prediction sent, event time)
        appended: dict[bytes, int] = {}  # id → broker append time of its record
        deadline = time.monotonic() + 120
        while (len(predicted) < n or len(appended) < n) and time.monotonic() < deadline:
            for tp, records in consumer.poll(timeout_ms=500).items():
                for r in records:
                    if tp.topic == self.topics.predictions:
                        predicted[r.key] = (r.timestamp, orjson.loads(r.value)["event_time"])
                    else:
                        appended[r.key] = r.timestamp
        consumer.close()
        keys = [k for k in predicted if k in appended]
        sent = np.array([predicted[k][0] for k in keys], dtype=np.float64)
        event = np.array([predicted[k][1] for k in keys], dtype=np.float64)
        log = np.array([appended[k] for k in keys], dtype=np.float64)

        def percentiles(ms: np.ndarray) -> dict[str, float]:
            p50, p95, p99 = np.percentile(ms, [50, 95, 99])
            return {"p50_ms": float(p50), "p95_ms": float(p95), "p99_ms": float(p99), "max_ms": float(ms.max())}

        return {
            "target_rate": rate, "labels": labels, "pinned": producer_cpu is not None, "achieved_rate": achieved,
            "records": len(keys),
            **percentiles(sent - event),
            "producer_to_log": percentiles(log - event), "log_to_prediction": percentiles(sent - log),
            "cpu_share_of_a_core": cpu,
            # the share of the machine's CPU time the hypervisor gave to others (a crowded host slows every part)
            "host_steal_share": host[7] / max(sum(host), 1),
        }  # fmt: skip

    def close(self) -> None:
        for w in self.workers:
            w.stop()
        delete_prefixed_topics(self.kafka)
        keys = list(self.redis.scan_iter(f"{self.prefix}*", count=10_000))
        for i in range(0, len(keys), 10_000):
            self.redis.delete(*keys[i : i + 10_000])
        self.redis.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stream")
    parser.add_argument("--records", type=int, default=200_000, help="records pre-filled for the drain runs")
    parser.add_argument("--naive-sample", type=int, default=1_000)
    parser.add_argument("--latency-seconds", type=float, default=60.0)
    parser.add_argument("--soak-seconds", type=float, default=300.0, help="load time before reading memory")
    args = parser.parse_args(argv)
    # kafka-python warns when decoding one large fetch holds its own loop for over 0.1 s: that is the benchmark's
    # reader of the predictions, after the load, not anything measured. Its other warnings still show.
    logging.getLogger("kafka.net.selector").addFilter(lambda record: "threshold). It is" not in record.getMessage())

    settings = Settings()
    stack = Stack(settings)
    stack.up()
    services = {row.name: row.pid for row in stack.status() if row.pid is not None}
    work = Path(".driftline/bench")
    work.mkdir(parents=True, exist_ok=True)
    bench = Bench(settings, bench_registry(work / "registry"), work)
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(), "cpus": os.cpu_count(), "python": platform.python_version(),
        "records": args.records, "latency_seconds": args.latency_seconds,
    }  # fmt: skip
    try:
        console.print(f"pre-filling {args.records:,} records ...")
        results["producer_rate"] = bench.produce(args.records)
        console.print("floor: aiokafka → Redis ...")
        results["floor_rate"] = bench.floor(args.records)
        console.print("naive: model.predict per record ...")
        results["naive_rate"] = bench.naive(args.naive_sample)
        console.print("one worker ...")
        results["one_worker_rate"], results["one_worker_counted"] = bench.drain(args.records, 1, "one")
        console.print("two workers ...")
        # Two workers drain half to two thirds as fast as the producer writes: twice the records leave a backlog.
        results["two_workers_rate"], results["two_workers_counted"] = bench.drain(2 * args.records, 2, "two")
        console.print("latency at fixed rates, then load until the memory reading ...")
        soak = bench.worker(0, "live")
        soak.wait_serving(timeout=180)
        soak_started = time.monotonic()
        # A new group starts at the beginning of the topic: let it drain the backlog before latency is measured.
        while soak.metric("driftline_records_total", outcome="scored") < bench.produced:
            if time.monotonic() - soak_started > 900:
                raise RuntimeError("the live worker did not drain the backlog in 900 s")
            time.sleep(0.2)
        assert soak.process is not None
        processes: dict[str, int] = {"producer": os.getpid(), "worker": soak.process.pid}
        processes.update({name: services[name] for name in ("kafka", "redis") if name in services})
        results["latency"] = [
            bench.latency(1000, args.latency_seconds, seed=21, processes=processes),
            bench.latency(5000, args.latency_seconds, seed=22, processes=processes),
            # the same again at once, the producer pinned to one CPU
            bench.latency(5000, args.latency_seconds, seed=25, processes=processes, producer_cpu=cpu_for(1)),
            bench.latency(5000, args.latency_seconds, seed=24, labels=False, processes=processes),
        ]
        remaining = args.soak_seconds - (time.monotonic() - soak_started)
        if remaining > 0:
            bench.produce(int(2000 * remaining), rate=2000, seed=23, labels=True)
        assert soak.process is not None
        results["worker_rss_mb_after_soak"] = rss_mb(soak.process.pid)
        results["soak_seconds"] = time.monotonic() - soak_started
    finally:
        bench.close()
    report(results, console)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "stream.json").write_text(json.dumps(results, indent=2))
    console.print(f"saved {RESULTS / 'stream.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
