"""`make bench-stream`: the streaming path end to end on the local stack, against the real ceilings, every figure
measured in the same run.

1. the ceilings: Kafka's own Java consumer (``ConsumerPerformance``) draining the pre-filled records topic, and
   ``redis-benchmark`` doing the worker's write (SET with EX of a prediction-sized value, pipelined 100) to the
   stack's Redis (bench/ceilings.py); and the naive baseline, a consumer calling ``model.predict`` per record (over
   a sample);
2. the drain rate of one processor worker on the same pre-filled topic, as a fraction of Kafka's consumer;
3. the same drain with two workers (of twice as many records, produced once both hold their partitions), as a
   multiple of one;
4. a worker's cold start: process start → its first prediction on the predictions topic, with the model already in
   the registry and a fresh group on the pre-filled topic, three times (the median and each);
5. end-to-end latency p50/p95/p99 (event time → prediction written; measured per record from the predictions
   topic's timestamps) while the producer holds 1,000, 5,000 and 20,000 records/s, each record's label following
   1 s later. Each is split at the moment the broker appended the record (the records topic keeps LogAppendTime
   here): producer → Kafka log, and Kafka log → prediction; and the CPU each process used meanwhile, and the share
   the hypervisor gave to other guests (steal), are read from /proc;
6. the worker's resident memory after 5 minutes under load.

Prints a table with each figure's target (bench/stream_table.py) and writes ``bench/results/stream.json``.
"""

from __future__ import annotations

import argparse
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
from rich.console import Console

from bench.ceilings import kafka_consumer_rate, redis_write_rate
from bench.latency import read_latencies, tail
from bench.procfs import cpu_seconds, host_ticks, rss_mb
from bench.stream_table import TARGETS, machine_bound, report
from driftline.bundle import ModelBundle
from driftline.kafka_admin import ensure_topics, specs_for
from driftline.kafka_clients import client_options
from driftline.modelio import load_keras
from driftline.redis_clients import sync_client
from driftline.registry import MODEL_FILE, Registry
from driftline.settings import KafkaSettings, Settings
from driftline.sources import AgrawalSource
from driftline.topics import Topics
from harness.processes import WorkerProcess, free_port, settings_env
from harness.topics import delete_prefixed_topics
from harness.waiting import wait_for
from producers.producer import ProduceOptions, RecordProducer
from stack import Stack

RESULTS = Path(__file__).parent / "results"
PREDICTION_BYTES = 200  # the write's value size when no prediction could be read back (about one document's)
console = Console(width=132)  # the table stays readable in a log file too


def cpu_of(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds used so far by each named process."""
    return {name: cpu_seconds(pid) for name, pid in pids.items()}


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
        self.redis = sync_client(settings.redis)
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
                label_delay: float = 1.0) -> float:  # fmt: skip
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

    def drain(self, n: int, workers: int, group: str, services: dict[str, int]) -> tuple[float, int, dict[str, float]]:
        """Records/s of ``workers`` processes draining n records, from the first scored (with several workers:
        from when the producer finished) to the last. Returns the rate, how many records it counts, and the share of
        a CPU each worker and each of ``services`` ({name: pid}) used over the same span.

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

        pids = {**{f"worker {i}": w.process.pid for i, w in enumerate(started) if w.process}, **services}
        first: float | None = None
        first_count = 0.0
        cpu_first: dict[str, float] = {}
        if workers > 1:

            def split() -> bool:
                shares = [w.metrics().get(held, 0.0) for w in started]
                return all(shares) and sum(shares) == self.kafka.records_partitions

            wait_for(split, timeout=120, interval=0.05, message=f"{workers} workers splitting the partitions")
            self.produce(n)
            first, first_count, cpu_first = time.monotonic(), done(), cpu_of(pids)
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            count = done()
            now = time.monotonic()
            if first is None and count > 0:
                first, first_count, cpu_first = now, count, cpu_of(pids)
            if count >= n:
                break
            time.sleep(0.05)
        else:
            raise RuntimeError(f"{workers} worker(s) did not drain {n} records in 900 s")
        cpu_last = cpu_of(pids)
        for w in started:
            w.stop()
        if first is None or n - first_count < n / 4:
            raise RuntimeError(f"{workers} workers drained most of the {n} records while they were produced; "
                               "pre-fill more (--records)")  # fmt: skip
        span = max(now - first, 1e-9)
        cpu = {name: (cpu_last[name] - cpu_first[name]) / span for name in pids}
        return (n - first_count) / span, int(n - first_count), cpu

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

    def kafka_ceiling(self, n: int, stack: Stack) -> dict[str, Any]:
        """Kafka's Java consumer reading the first n records of the records topic, with a fresh group."""
        measured = kafka_consumer_rate(stack.kafka_nodes[0], self.kafka.bootstrap_servers, self.topics.records, n,
                                       f"{self.prefix}kafka-consumer")  # fmt: skip
        return measured.as_dict()

    def redis_ceiling(self, value_bytes: int) -> dict[str, Any]:
        """redis-benchmark's SET with EX of a ``value_bytes`` value, pipelined 100, to the workers' Redis."""
        measured = redis_write_rate(self.settings.redis, f"{self.prefix}redis-benchmark:", value_bytes)
        return measured.as_dict()

    def prediction_bytes(self, group: str) -> int | None:
        """The size of one prediction document the group ``group``'s worker wrote to Redis (None if none found)."""
        for key in self.redis.scan_iter(f"{self.prefix}{group}:pred:*", count=1000):
            return int(self.redis.strlen(key))
        return None

    def cold_start(self, group: str) -> float:
        """Seconds from just before a worker is spawned (its group ``group`` fresh, the records topic pre-filled, the
        model in the registry) to its first prediction on the predictions topic (the earliest record timestamp,
        set when the worker sent it, after the Redis write). No other worker may run meanwhile."""
        consumer = tail(self.kafka, {self.topics.predictions: self.kafka.predictions_partitions})
        spawned = time.time()
        worker = self.worker(0, group)
        try:
            stamps: list[int] = []
            deadline = time.monotonic() + 180
            while not stamps:
                if time.monotonic() > deadline or not worker.alive():
                    raise RuntimeError(f"no prediction from a cold worker within 180 s:\n{worker.log()}")
                stamps = [r.timestamp for rs in consumer.poll(timeout_ms=200).values() for r in rs]
            # the first batch goes to every partition at once: take the earliest of what follows within 0.5 s
            stamps += [r.timestamp for rs in consumer.poll(timeout_ms=500).values() for r in rs]
            return min(stamps) / 1000 - spawned
        finally:
            worker.stop()
            consumer.close()

    def naive(self, sample: int) -> float:
        """Per record: parse, preprocess one row, ``model.predict``, one Redis SET — the approach we replace."""
        from kafka import KafkaConsumer

        bundle = ModelBundle.load_production(self.registry)
        model = load_keras(self.registry.path(bundle.version) / MODEL_FILE)  # the Keras model itself
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

    def latency(self, rate: float, seconds: float, seed: int, *, labels: bool = True,
                processes: dict[str, int]) -> dict[str, Any]:  # fmt: skip
        """Hold ``rate`` records/s (labels following after 1 s) and read every prediction's latency, in two halves.

        ``processes`` names the pids whose CPU use is read meanwhile (the producer is this process).
        """
        consumer = tail(self.kafka, {self.topics.predictions: self.kafka.predictions_partitions,
                                     self.topics.records: self.kafka.records_partitions})  # fmt: skip
        n = int(rate * seconds)
        cpu_before, started = cpu_of(processes), time.monotonic()
        host_before = host_ticks()
        achieved = self.produce(n, rate=rate, seed=seed, labels=labels)
        wall = time.monotonic() - started
        cpu_after = cpu_of(processes)
        cpu = {name: (cpu_after[name] - cpu_before[name]) / wall for name in processes}
        host = [after - before for before, after in zip(host_before, host_ticks(), strict=True)]
        return {
            "target_rate": rate, "labels": labels, "achieved_rate": achieved,
            # the reading starts once the producer is done: give a large run the time to read it all back
            **read_latencies(consumer, self.topics.predictions, n, timeout=max(120.0, n / 5000)),
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
    running = {row.name: row.pid for row in stack.status() if row.pid is not None}
    services: dict[str, int] = {name: running[name] for name in ("kafka", "redis") if name in running}
    work = Path(".driftline/bench")
    work.mkdir(parents=True, exist_ok=True)
    bench = Bench(settings, bench_registry(work / "registry"), work)
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(), "cpus": os.cpu_count(), "python": platform.python_version(),
        "records": args.records, "latency_seconds": args.latency_seconds, "targets": TARGETS,
    }  # fmt: skip
    try:
        console.print(f"pre-filling {args.records:,} records ...")
        results["producer_rate"] = bench.produce(args.records)
        console.print("Kafka's consumer (ConsumerPerformance) on the same records ...")
        results["kafka_consumer"] = bench.kafka_ceiling(args.records, stack)
        results["kafka_consumer_rate"] = results["kafka_consumer"]["rate"]
        console.print("naive: model.predict per record ...")
        results["naive_rate"] = bench.naive(args.naive_sample)
        console.print("one worker ...")
        drained = bench.drain(args.records, 1, "one", services)
        results["one_worker_rate"], results["one_worker_counted"], results["one_worker_cpu"] = drained
        value_bytes = bench.prediction_bytes("one") or PREDICTION_BYTES
        console.print(f"Redis's write ceiling (redis-benchmark, SET EX of {value_bytes} bytes, pipelined 100) ...")
        results["redis_write"] = bench.redis_ceiling(value_bytes)
        results["redis_write_rate"] = results["redis_write"]["rate"]
        console.print("two workers ...")
        # Two workers drain half to two thirds as fast as the producer writes: twice the records leave a backlog.
        drained = bench.drain(2 * args.records, 2, "two", services)
        results["two_workers_rate"], results["two_workers_counted"], results["two_workers_cpu"] = drained
        results["two_workers_machine_bound"] = machine_bound(results["one_worker_cpu"], os.cpu_count() or 1)
        console.print("cold starts ...")
        runs = [bench.cold_start(f"cold-{i}") for i in range(1, 4)]
        results["worker_cold_start_seconds"] = float(np.median(runs))
        results["worker_cold_start_runs_seconds"] = runs
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
        processes.update(services)
        results["latency"] = [
            bench.latency(rate, args.latency_seconds, seed=seed, processes=processes)
            for rate, seed in ((1000, 21), (5000, 22), (20_000, 25))
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
