"""The ceilings `make bench-stream` holds the workers against, measured by each service's own tool in the same run.

- Kafka: its Java consumer, ``org.apache.kafka.tools.ConsumerPerformance`` (the ``kafka-tools`` jar, fetched with
  the broker's jars), draining the same pre-filled records topic with a fresh group and doing nothing with them;
- Redis: ``redis-benchmark`` doing the worker's write, a SET with EX of a value the size of a prediction document,
  pipelined.

The parsers are pure (tests/unit/test_ceilings.py); the runners start the tools and fail with their output.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
from dataclasses import asdict, dataclass
from typing import Any

from driftline.redis_clients import cli_args
from driftline.settings import RedisSettings
from stack.kafka import KafkaService

CONSUMER_PERFORMANCE = "org.apache.kafka.tools.ConsumerPerformance"


@dataclass(frozen=True)
class ConsumerPerformance:
    """ConsumerPerformance's summary line. ``rate`` leaves out the time spent joining the group (as the workers'
    drain rates leave out their start), ``rate_with_join`` counts it."""

    messages: int
    rate: float  # fetch.nMsg.sec
    rate_with_join: float  # nMsg.sec
    mb_per_second: float  # fetch.MB.sec
    join_ms: int  # rebalance.time.ms
    fetch_ms: int  # fetch.time.ms

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_consumer_performance(stdout: str) -> ConsumerPerformance:
    """The summary of ``ConsumerPerformance`` (without ``--show-detailed-stats``): a header line of comma-separated
    names (``start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms,
    fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec``) and one line of values; other lines (a WARNING) are skipped."""
    lines = [line.strip() for line in stdout.splitlines() if line.strip()]
    header_at = next((i for i, line in enumerate(lines) if line.startswith("start.time,")), None)
    if header_at is None:
        raise ValueError(f"no ConsumerPerformance header (start.time, ...) in its output: {stdout[-1000:]!r}")
    names = [name.strip() for name in lines[header_at].split(",")]
    for line in lines[header_at + 1 :]:
        values = [value.strip() for value in line.split(",")]
        if len(values) == len(names) and not line.startswith("WARNING"):
            row = dict(zip(names, values, strict=True))
            try:
                return ConsumerPerformance(
                    messages=int(row["data.consumed.in.nMsg"]), rate=float(row["fetch.nMsg.sec"]),
                    rate_with_join=float(row["nMsg.sec"]), mb_per_second=float(row["fetch.MB.sec"]),
                    join_ms=int(row["rebalance.time.ms"]), fetch_ms=int(row["fetch.time.ms"]),
                )  # fmt: skip
            except (KeyError, ValueError) as exc:
                raise ValueError(f"unexpected ConsumerPerformance summary {line!r} for {names}") from exc
    raise ValueError(f"no ConsumerPerformance summary line after its header: {stdout[-1000:]!r}")


def parse_redis_benchmark_csv(stdout: str) -> dict[str, float]:
    """The last result of ``redis-benchmark --csv``: {"rps": requests/s, and with Redis 7's header the latencies
    ``avg_latency_ms`` .. ``max_latency_ms``}. Redis 6 prints no header, only ``"<test>","<rps>"``."""
    rows = [row for row in csv.reader(line for line in stdout.splitlines() if line.strip()) if row]
    header = next((row for row in rows if "rps" in row), None)
    data = [row for row in rows if row is not header and len(row) >= 2]
    if not data:
        raise ValueError(f"no result in redis-benchmark's CSV output: {stdout[-1000:]!r}")
    row = data[-1]
    try:
        if header is None:
            return {"rps": float(row[1])}
        # every field after the test's name is a number: read them from the right, whatever the name held
        numbers = header[1:]
        return {name: float(value) for name, value in zip(numbers, row[len(row) - len(numbers) :], strict=True)}
    except ValueError as exc:
        raise ValueError(f"unexpected redis-benchmark CSV row {row!r} (header {header!r})") from exc


def kafka_consumer_rate(kafka: KafkaService, bootstrap_servers: str, topic: str, messages: int,
                        group: str) -> ConsumerPerformance:  # fmt: skip
    """Kafka's Java consumer reading ``messages`` records of ``topic`` from the beginning, with the group ``group``
    (fresh: it has no offsets), in the broker's java with the broker's jars."""
    command = kafka.tool_command(CONSUMER_PERFORMANCE, "--bootstrap-server", bootstrap_servers, "--topic", topic,
                                 "--messages", str(messages), "--group", group, "--timeout", "60000")  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        raise RuntimeError(f"ConsumerPerformance failed (exit {result.returncode}):\n"
                           f"{(result.stdout + result.stderr)[-2000:]}")  # fmt: skip
    measured = parse_consumer_performance(result.stdout)
    if measured.messages < messages:
        raise RuntimeError(f"ConsumerPerformance read {measured.messages:,} of the {messages:,} records of {topic}:\n"
                           f"{result.stdout[-1000:]}")  # fmt: skip
    return measured


@dataclass(frozen=True)
class RedisWrites:
    """redis-benchmark's SET ... EX run: its requests/s, and how it was run."""

    rate: float
    requests: int
    seconds: float
    value_bytes: int
    pipeline: int
    clients: int
    latency_ms: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def redis_write_rate(redis: RedisSettings, key_prefix: str, value_bytes: int, *, pipeline: int = 100,
                     clients: int = 50, min_seconds: float = 1.0) -> RedisWrites:  # fmt: skip
    """SETs with EX 600 of a ``value_bytes`` value under random keys ``<key_prefix><n>`` (n < 100,000), pipelined
    ``pipeline`` deep over ``clients`` connections, to the Redis of ``redis`` (its url, login and TLS): the worker's
    write with nothing else. Grows the request count until one run lasts ``min_seconds``."""
    program = shutil.which("redis-benchmark")
    if program is None:
        raise RuntimeError("redis-benchmark not found: apt-get install redis-tools (Debian's redis-server brings it)")
    base = [program, "-u", redis.url, *cli_args(redis), "-P", str(pipeline), "-c", str(clients),
            "-r", "100000", "--csv"]  # fmt: skip
    write = ["SET", f"{key_prefix}__rand_int__", "x" * value_bytes, "EX", "600"]
    requests = 100_000
    for _ in range(6):
        result = subprocess.run([*base, "-n", str(requests), *write], capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            raise RuntimeError(f"redis-benchmark failed (exit {result.returncode}):\n"
                               f"{(result.stdout + result.stderr)[-2000:]}")  # fmt: skip
        figures = parse_redis_benchmark_csv(result.stdout)
        rate = figures.pop("rps")
        seconds = requests / rate
        if seconds >= min_seconds:
            return RedisWrites(rate=rate, requests=requests, seconds=seconds, value_bytes=value_bytes,
                               pipeline=pipeline, clients=clients, latency_ms=figures)  # fmt: skip
        requests = int(requests * 1.5 * min_seconds / max(seconds, 0.01))
    raise RuntimeError(f"redis-benchmark's runs stayed under {min_seconds} s (last: {requests:,} requests)")
