"""A faust-streaming worker consumes from the real broker and acts on every record."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import redis
from kafka import KafkaProducer

from driftline.kafka_clients import client_options
from driftline.settings import KafkaSettings, Settings
from driftline.topics import Topics
from harness.waiting import wait_for

N = 2_000
ROOT = Path(__file__).resolve().parents[2]


def test_faust_worker_consumes_every_record(
    settings: Settings, kafka_settings: KafkaSettings, topics: Topics, unique: str, redis_client: redis.Redis,
    tmp_path: Path,
) -> None:
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.faust_probe_app", kafka_settings.bootstrap_servers,
         topics.records, settings.redis.url, f"faust-probe-{unique}", str(tmp_path / "faust-data")],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        producer = KafkaProducer(acks="all", linger_ms=5, **client_options(kafka_settings))
        for i in range(N):
            producer.send(topics.records, key=str(i).encode(), value=str(i).encode())
        producer.flush(timeout=30)
        producer.close()
        keys = [f"faustprobe:{topics.records}:{i}" for i in range(N)]

        def all_seen() -> bool:
            assert worker.poll() is None, f"faust worker exited early: {(tmp_path / 'worker.log').read_text()[-3000:]}"
            return redis_client.exists(*keys) == N

        wait_for(all_seen, timeout=90, message=f"{N} records handled by the faust agent")
        assert (tmp_path / "faust-data").is_dir() and not (ROOT / f"faust-probe-{unique}-data").exists()
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        log.close()
        redis_client.delete(*[f"faustprobe:{topics.records}:{i}" for i in range(N)])
