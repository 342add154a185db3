"""`make bench`: the streaming path end to end on the local stack, every figure measured in the same run.

1. drain rate of one processor worker on a pre-filled records topic, beside
   (a) the floor: an aiokafka consumer writing the same raw records to Redis (no validation, no model), and
   (b) the naive baseline: a consumer calling ``model.predict`` per record (over a sample);
2. the same drain with two workers;
3. end-to-end latency p50/p95/p99 (event time → prediction written; measured per record from the predictions
   topic's timestamps) while the producer holds 1,000 and 5,000 records/s, each record's label following 1 s
   later; and 5,000 records/s without labels, to show what the labels' share of the 2 cores costs;
4. the worker's resident memory after 5 minutes under load.

Prints a table and writes ``bench/results/stream.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
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
from rich.table import Table

from driftline.bundle import ModelBundle
from driftline.kafka_admin import ensure_topics, specs_for
from driftline.registry import Registry
from driftline.settings import KafkaSettings, Settings
from driftline.sources import AgrawalSource
from driftline.stack import Stack
from driftline.topics import Topics
from producers.producer import ProduceOptions, RecordProducer
from tests.kafka_topics import delete_prefixed_topics
from tests.processes import WorkerProcess, free_port, settings_env

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
        ensure_topics(self.kafka, specs_for(self.kafka))

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
        return report.rate

    def drain(self, n: int, workers: int, group: str) -> float:
        """Records/s of ``workers`` processes draining n records: from the first scored to the last."""
        started = [self.worker(i, group) for i in range(workers)]
        for w in started:
            w.wait_serving(timeout=180)
        first: float | None = None
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            done = sum(w.metric("driftline_records_total", outcome="scored") for w in started)
            now = time.monotonic()
            if first is None and done > 0:
                first, first_count = now, done
            if done >= n:
                break
            time.sleep(0.05)
        else:
            raise RuntimeError(f"{workers} worker(s) did not drain {n} records in 900 s")
        for w in started:
            w.stop()
        assert first is not None
        return (n - first_count) / max(now - first, 1e-9)

    def floor(self, n: int) -> float:
        """aiokafka → Redis, raw bytes, one pipeline per fetched batch: what the plumbing alone costs."""
        from aiokafka import AIOKafkaConsumer

        async def run() -> float:
            client = redis.asyncio.Redis.from_url(self.settings.redis.url)
            consumer = AIOKafkaConsumer(self.topics.records, group_id=f"{self.prefix}floor", enable_auto_commit=False,
                                        auto_offset_reset="earliest", **self.kafka.client_options())  # fmt: skip
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
                                 **self.kafka.client_options())  # fmt: skip
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

    def latency(self, rate: float, seconds: float, seed: int, *, labels: bool = True) -> dict[str, Any]:
        """Hold ``rate`` records/s (labels following after 1 s) and read every prediction's latency."""
        from kafka import KafkaConsumer, TopicPartition

        consumer = KafkaConsumer(**self.kafka.client_options(), enable_auto_commit=False)
        parts = [TopicPartition(self.topics.predictions, p) for p in range(self.kafka.predictions_partitions)]
        consumer.assign(parts)
        consumer.seek_to_end()
        for tp in parts:
            consumer.position(tp)
        n = int(rate * seconds)
        achieved = self.produce(n, rate=rate, seed=seed, labels=labels)
        latencies: list[float] = []
        deadline = time.monotonic() + 120
        while len(latencies) < n and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                for r in records:
                    latencies.append(r.timestamp - orjson.loads(r.value)["event_time"])
        consumer.close()
        ms = np.array(latencies, dtype=np.float64)
        return {
            "target_rate": rate, "labels": labels, "achieved_rate": achieved, "records": len(ms),
            "p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95)),
            "p99_ms": float(np.percentile(ms, 99)), "max_ms": float(ms.max()),
        }  # fmt: skip

    def close(self) -> None:
        for w in self.workers:
            w.stop()
        delete_prefixed_topics(self.kafka)
        keys = list(self.redis.scan_iter(f"{self.prefix}*", count=10_000))
        for i in range(0, len(keys), 10_000):
            self.redis.delete(*keys[i : i + 10_000])
        self.redis.close()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stream")
    parser.add_argument("--records", type=int, default=200_000, help="records pre-filled for the drain runs")
    parser.add_argument("--naive-sample", type=int, default=1_000)
    parser.add_argument("--latency-seconds", type=float, default=60.0)
    parser.add_argument("--soak-seconds", type=float, default=300.0, help="load time before reading memory")
    args = parser.parse_args(argv)

    settings = Settings()
    Stack(settings).up()
    work = Path(".driftline/bench")
    work.mkdir(parents=True, exist_ok=True)
    bench = Bench(settings, bench_registry(work / "registry"), work)
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(), "cpus": os.cpu_count(), "python": platform.python_version(),
        "records": args.records,
    }  # fmt: skip
    try:
        console.print(f"pre-filling {args.records:,} records ...")
        results["producer_rate"] = bench.produce(args.records)
        console.print("floor: aiokafka → Redis ...")
        results["floor_rate"] = bench.floor(args.records)
        console.print("naive: model.predict per record ...")
        results["naive_rate"] = bench.naive(args.naive_sample)
        console.print("one worker ...")
        results["one_worker_rate"] = bench.drain(args.records, 1, "one")
        console.print("two workers ...")
        results["two_workers_rate"] = bench.drain(args.records, 2, "two")
        console.print("latency at fixed rates, then load until the memory reading ...")
        soak = bench.worker(0, "live")
        soak.wait_serving(timeout=180)
        soak_started = time.monotonic()
        # A new group starts at the beginning of the topic: let it drain the backlog before latency is measured.
        while soak.metric("driftline_records_total", outcome="scored") < args.records:
            if time.monotonic() - soak_started > 900:
                raise RuntimeError("the live worker did not drain the backlog in 900 s")
            time.sleep(0.2)
        results["latency"] = [
            bench.latency(1000, args.latency_seconds, seed=21),
            bench.latency(5000, args.latency_seconds, seed=22),
            bench.latency(5000, args.latency_seconds, seed=24, labels=False),
        ]
        remaining = args.soak_seconds - (time.monotonic() - soak_started)
        if remaining > 0:
            bench.produce(int(2000 * remaining), rate=2000, seed=23, labels=True)
        assert soak.process is not None
        results["worker_rss_mb_after_soak"] = rss_mb(soak.process.pid)
        results["soak_seconds"] = time.monotonic() - soak_started
    finally:
        bench.close()
    report(results)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "stream.json").write_text(json.dumps(results, indent=2))
    console.print(f"saved {RESULTS / 'stream.json'}")
    return 0


def report(r: dict[str, Any]) -> None:
    table = Table("measure", "value", "vs floor", "vs naive", title="Driftline stream benchmark (same run)")
    for name, key in (("floor: aiokafka → Redis, raw", "floor_rate"), ("naive: model.predict per record", "naive_rate"),
                      ("one worker", "one_worker_rate"), ("two workers", "two_workers_rate")):  # fmt: skip
        value = r[key]
        floor, naive = value / r["floor_rate"], value / r["naive_rate"]
        table.add_row(name, f"{value:,.0f} rec/s", f"{floor:.2f}×", f"{naive:,.0f}×")
    for lat in r["latency"]:
        labels = "with labels" if lat.get("labels", True) else "records only"
        table.add_row(
            f"latency at {lat['target_rate']:,.0f}/s, {labels} (achieved {lat['achieved_rate']:,.0f})",
            f"p50 {lat['p50_ms']:.0f} ms  p95 {lat['p95_ms']:.0f} ms  p99 {lat['p99_ms']:.0f} ms", "", "",
        )  # fmt: skip
    rss = f"{r['worker_rss_mb_after_soak']:.0f} MB"
    table.add_row(f"worker RSS after {r['soak_seconds']:.0f} s of load", rss, "", "")
    console.print(table)


if __name__ == "__main__":
    raise SystemExit(main())
