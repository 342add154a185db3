"""A test's own corner of the real stack: topics, Redis keys, a registry, worker processes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import orjson
import redis

from driftline.registry import Registry
from driftline.settings import KafkaSettings, RedisSettings
from driftline.sources import AgrawalSource
from driftline.topics import Topics
from harness.processes import WorkerProcess, free_port, kafka_env, redis_env, settings_env
from harness.waiting import wait_for
from producers.producer import ProduceOptions, RecordProducer


@dataclass
class Pipeline:
    """A test's own corner of the stack: topics, Redis keys, metrics ports; workers to start."""

    kafka: KafkaSettings
    topics: Topics
    key_prefix: str
    registry: Registry
    redis: redis.Redis | redis.RedisCluster
    tmp: Path
    redis_url: str
    workers: list[WorkerProcess]
    reconcile_seconds: float = 5.0
    redis_login: RedisSettings | None = None  # a Redis that wants more than the url (ACL user, TLS): its settings

    def env(self) -> dict[str, str]:
        login = redis_env(self.redis_login) if self.redis_login is not None else {}
        return kafka_env(self.kafka) | login | settings_env(
            kafka={"topic_prefix": self.kafka.topic_prefix},
            redis={"key_prefix": self.key_prefix, "url": self.redis_url},
            registry={"root": self.registry.root, "model_name": self.registry.model},
            stack={"data_dir": self.tmp / "stack"},
            processor={"batch_max": 500, "model_reconcile_seconds": self.reconcile_seconds},
        )

    def worker(self, index: int = 0, *, pin_cpu: bool = False) -> WorkerProcess:
        port = free_port()
        env = {**self.env(), **settings_env(processor={"metrics_port_base": port - index, "pin_cpu": pin_cpu})}
        worker = WorkerProcess(env, index, self.tmp, port).start()
        self.workers.append(worker)
        return worker

    def produce(self, source: AgrawalSource, count: int, **options: object) -> None:
        producer = RecordProducer(self.kafka)
        try:
            producer.run(source, ProduceOptions(count=count, **options))  # type: ignore[arg-type]
        finally:
            producer.close()

    def stored(self, ids: list[str]) -> list[dict[str, object] | None]:
        out: list[dict[str, object] | None] = []
        for i in range(0, len(ids), 5000):
            keys = [f"{self.key_prefix}pred:{x}" for x in ids[i : i + 5000]]
            if isinstance(self.redis, redis.RedisCluster):
                chunk = self.redis.mget_nonatomic(keys)
            else:
                chunk = self.redis.mget(keys)
            out.extend(orjson.loads(v) if v is not None else None for v in chunk)
        return out

    def wait_all_scored(self, ids: list[str], timeout: float = 180) -> list[dict[str, object]]:
        def done() -> bool:
            for w in self.workers:
                assert w.alive() or w.process is None or w.process.returncode in (-9, 0), w.log()
            return all(d is not None for d in self.stored(ids))

        wait_for(done, timeout=timeout, interval=1.0, message=f"{len(ids)} predictions in Redis")
        return [d for d in self.stored(ids) if d is not None]
