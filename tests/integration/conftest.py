"""The real local stack, started once per test session (or reused), and per-test isolation by name."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from driftline.kafka_admin import ensure_topics, specs_for
from driftline.redis_clients import sync_client
from driftline.registry import Registry
from driftline.settings import KafkaSettings, RedisSettings, Settings
from driftline.topics import Topics
from harness.topics import delete_prefixed_topics
from stack import Stack
from stack.process import port_open
from tests.integration.pipeline import Pipeline
from tests.integration.secure_kafka import secure_kafka, secure_kafka_settings, secure_pipeline  # noqa: F401

SECURE_REDIS_PORT = 27101  # TLS only (no plaintext port); clashes with no other test node (21001+, 29092+)


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def stack(settings: Settings) -> Iterator[Stack]:
    """Reuse a healthy running stack, else start one and stop it at the end of the session."""
    stack = Stack(settings)
    if stack.healthy():
        yield stack
        return
    try:  # inside: a start that fails half-way stops what it started
        stack.up()
        yield stack
    finally:
        stack.down()


@pytest.fixture(scope="session")
def secure_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisSettings]:
    """A Redis of the session's own as `driftline stack up --secure` runs it (TLS only, ACL users, passwords and a
    certificate made at set-up); yields the client settings the stack hands out: user ``driftline``, allowed the
    keys under ``test-`` (a test's prefix: ``test-<unique>:``)."""
    base = Settings()
    stack_settings = base.stack.model_copy(update={"data_dir": tmp_path_factory.mktemp("secure-redis"),
                                                   "redis_port": SECURE_REDIS_PORT, "secure": True})  # fmt: skip
    stack = Stack(base.model_copy(update={"stack": stack_settings,
                                          "redis": base.redis.model_copy(update={"key_prefix": "test-"})}))  # fmt: skip
    if port_open(SECURE_REDIS_PORT):
        pytest.fail(f"port {SECURE_REDIS_PORT} is busy before the secured Redis starts; something else runs there")
    stack.services = list(stack.redis_nodes)  # Redis alone: Kafka and the rest are the session's plain stack
    try:  # inside: a start that fails half-way stops what it started
        stack.up()
        env = {key.removeprefix("DRIFTLINE_REDIS__").lower(): value for key, value in stack.client_env().items()}
        yield RedisSettings(**env, key_prefix="test-")  # type: ignore[arg-type]
    finally:
        stack.down()


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture
def kafka_settings(stack: Stack, settings: Settings, unique: str) -> Iterator[KafkaSettings]:
    """Kafka settings with a topic prefix of this test's own; its topics are created, and deleted afterwards."""
    kafka = settings.kafka.model_copy(update={"topic_prefix": f"test-{unique}."})
    ensure_topics(kafka, specs_for(kafka))
    yield kafka
    delete_prefixed_topics(kafka)


@pytest.fixture
def topics(kafka_settings: KafkaSettings) -> Topics:
    return Topics(kafka_settings.topic_prefix)


@pytest.fixture
def redis_client(stack: Stack, settings: Settings) -> Iterator[redis.Redis | redis.RedisCluster]:
    client = sync_client(settings.redis)
    yield client
    client.close()


@pytest.fixture(scope="session")
def serving_registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    """A registry with one production model, trained once per session on the default scenario (small, quick)."""
    from driftline.sources import AgrawalSource
    from trainer.release import register_candidate
    from trainer.training import TrainConfig, fit_candidate

    registry = Registry(tmp_path_factory.mktemp("registry"), "driftline")
    source = AgrawalSource(seed=7)
    candidate = fit_candidate(source.frame(8000), source.contract, TrainConfig(max_epochs=8, seed=7))
    register_candidate(registry, candidate, source_description=repr(source), promote=True)
    return registry


@pytest.fixture(scope="session")
def digits_registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    """A small digits CNN in production, trained once per session (3,000 images, 4 epochs: about 0.95 accurate)."""
    from driftline.sources.digits import DigitsSource
    from trainer.release import register_candidate
    from trainer.training import TrainConfig, fit_candidate

    registry = Registry(tmp_path_factory.mktemp("digits-registry"), "driftline")
    source = DigitsSource(seed=7)
    candidate = fit_candidate(source.frame(3000), source.contract, TrainConfig(max_epochs=4, seed=7))
    register_candidate(registry, candidate, source_description=repr(source), promote=True)
    return registry


@pytest.fixture
def pipeline(kafka_settings: KafkaSettings, topics: Topics, serving_registry: Registry, redis_client: redis.Redis,
             settings: Settings, unique: str, tmp_path: Path) -> Iterator[Pipeline]:  # fmt: skip
    p = Pipeline(kafka_settings, topics, f"test-{unique}:", serving_registry, redis_client, tmp_path,
                 settings.redis.url, [])  # fmt: skip
    yield p
    for worker in p.workers:
        worker.stop()
    keys = list(redis_client.scan_iter(f"{p.key_prefix}*", count=10_000))
    for i in range(0, len(keys), 10_000):
        redis_client.delete(*keys[i : i + 10_000])


@pytest.fixture
def registry(serving_registry: Registry, tmp_path: Path) -> Registry:
    """A copy of the session's registry that this test may change."""
    root = tmp_path / "registry"
    shutil.copytree(serving_registry.root, root)
    return Registry(root, serving_registry.model)
