"""Redis as `driftline stack up --secure` runs it (the session's `secure_redis`: TLS only, ACL users, a certificate from
the stack's CA): the workers' write path and label lookup with the settings alone, the ACL user kept to its keys and
commands, and a wrong password or an untrusted certificate refused in one line within a deadline, not a hang."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
import redis
from prometheus_client import CollectorRegistry

from driftline.errors import ConfigError
from driftline.messages import encode_label_event, prediction_key
from driftline.redis_clients import check_redis, sync_client
from driftline.settings import RedisSettings
from driftline.sources import AgrawalSource
from harness.processes import ROOT, redis_env, settings_env
from processors.labels import LabelJoin
from processors.metrics import ProcessorMetrics
from processors.redis_sink import RedisSink, get_many, redis_client
from stack.tls import CertificateAuthority
from tests.integration.conftest import SECURE_REDIS_PORT
from tests.integration.pipeline import Pipeline

DEADLINE = 10.0  # seconds a refusal may take, far below any client's retries


def _own(secure_redis: RedisSettings, unique: str, **update: object) -> RedisSettings:
    return secure_redis.model_copy(update={"key_prefix": f"test-{unique}:", **update})


def test_the_secured_redis_serves_no_plaintext_and_no_anonymous_client(secure_redis: RedisSettings) -> None:
    plain = redis.Redis(port=SECURE_REDIS_PORT, socket_timeout=2, socket_connect_timeout=2)
    with pytest.raises(redis.ConnectionError):
        plain.ping()  # TLS only: a plaintext client is dropped
    plain.close()
    anonymous = sync_client(secure_redis.model_copy(update={"username": None, "password": None}), socket_timeout=2)
    with pytest.raises(redis.AuthenticationError):  # the default user is off
        anonymous.ping()
    anonymous.close()
    assert check_redis(secure_redis)


def test_the_acl_user_is_kept_to_its_keys_and_to_the_commands_of_the_project(secure_redis: RedisSettings,
                                                                             unique: str) -> None:  # fmt: skip
    client = sync_client(_own(secure_redis, unique))
    try:
        client.set(f"test-{unique}:x", b"1", ex=60)
        assert client.get(f"test-{unique}:x") == b"1"
        with pytest.raises(redis.exceptions.NoPermissionError):
            client.set("driftline:outside", b"1")  # a key outside its prefix
        for command in (("CONFIG", "GET", "requirepass"), ("FLUSHALL",), ("ACL", "LIST"), ("KEYS", "*")):
            with pytest.raises(redis.exceptions.NoPermissionError):
                client.execute_command(*command)
    finally:
        client.close()


def test_the_workers_write_and_label_lookup_run_over_tls_as_the_acl_user(secure_redis: RedisSettings,
                                                                        unique: str) -> None:  # fmt: skip
    settings = _own(secure_redis, unique, prediction_ttl_seconds=600)
    registry = CollectorRegistry()
    ids = [f"r{i}" for i in range(500)]

    async def scenario() -> None:
        client = redis_client(settings)
        try:
            documents = [orjson.dumps({"id": i, "version": 4, "label": 1, "score": 0.9}) for i in ids]
            assert await RedisSink(client, settings).write(ids, documents, stopping=lambda: False)
            keys = [prediction_key(settings.key_prefix, i) for i in ids]
            assert await get_many(client, [*keys, prediction_key(settings.key_prefix, "absent")]) == [*documents, None]
            join = LabelJoin(client, settings, ProcessorMetrics(registry))
            assert await join.handle([encode_label_event(i, 1, 0) for i in ids[:100]])
        finally:
            await client.aclose()

    asyncio.run(scenario())
    assert registry.get_sample_value("driftline_labels_total", {"outcome": "matched"}) == 100
    assert registry.get_sample_value("driftline_labeled_accuracy", {"version": "4"}) == 1.0
    reader = sync_client(settings)
    try:
        assert 0 < reader.ttl(prediction_key(settings.key_prefix, ids[0])) <= 600
    finally:
        reader.close()


def _refused_quickly(settings: RedisSettings) -> str:
    started = time.monotonic()
    with pytest.raises(ConfigError) as refused:
        check_redis(settings)
    assert time.monotonic() - started < DEADLINE
    message = str(refused.value)
    assert "\n" not in message
    return message


def _worker_refusal(settings: RedisSettings, tmp_path: Path) -> str:
    """A real worker process with these settings: it must exit 1 with one line, before it touches Kafka."""
    clean = {key: value for key, value in os.environ.items() if not key.startswith("DRIFTLINE_")}
    env = {**clean, **redis_env(settings), **settings_env(kafka={"bootstrap_servers": "127.0.0.1:1"},
                                                          registry={"root": tmp_path / "registry"},
                                                          stack={"data_dir": tmp_path / "stack"})}  # fmt: skip
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "processors", "worker"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)  # fmt: skip
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("python -m processors: Redis at "), result.stderr[-3000:]
    assert time.monotonic() - started < 120
    return last


def test_a_wrong_password_is_refused_in_one_line(secure_redis: RedisSettings, tmp_path: Path) -> None:
    wrong = secure_redis.model_copy(update={"password": secure_redis.password.__class__("not-the-password")})
    message = _refused_quickly(wrong)
    assert "refused user 'driftline'" in message and "not-the-password" not in message
    assert "refused user 'driftline'" in _worker_refusal(wrong, tmp_path)


def test_an_untrusted_certificate_is_refused_in_one_line(secure_redis: RedisSettings, tmp_path: Path) -> None:
    other_ca = CertificateAuthority.ensure(tmp_path / "other-ca", "Some other CA")
    untrusting = secure_redis.model_copy(update={"ssl_ca_certs": other_ca.cert})
    message = _refused_quickly(untrusting)
    assert f"not trusted by {other_ca.cert}" in message and "DRIFTLINE_REDIS__SSL_CA_CERTS" in message
    assert "not trusted by" in _worker_refusal(untrusting, tmp_path)


def test_a_worker_scores_into_the_secured_redis_with_the_settings_alone(secure_redis: RedisSettings,
                                                                       pipeline: Pipeline) -> None:  # fmt: skip
    settings = secure_redis.model_copy(update={"key_prefix": pipeline.key_prefix})
    pipeline.redis_url, pipeline.redis_login, pipeline.redis = settings.url, settings, sync_client(settings)
    try:
        pipeline.worker().wait_serving()
        source = AgrawalSource(seed=41)
        pipeline.produce(source, 300)
        stored = pipeline.wait_all_scored([r.record["id"] for r in source.take(300)], timeout=120)
        assert len(stored) == 300 and all("score" in document for document in stored)
    finally:
        pipeline.redis.close()


def test_the_benchmarks_redis_ceiling_reaches_the_secured_redis_with_the_settings_alone(
    secure_redis: RedisSettings, unique: str
) -> None:
    from bench.ceilings import redis_write_rate

    settings = _own(secure_redis, unique)
    measured = redis_write_rate(settings, f"test-{unique}:bench:", 64, clients=4, min_seconds=0.2)
    assert measured.rate > 0 and measured.seconds >= 0.2
    reader = sync_client(settings)
    try:
        assert reader.get(next(reader.scan_iter(f"test-{unique}:bench:*", count=1000))) == b"x" * 64
    finally:
        reader.close()


def test_a_plaintext_client_of_the_tls_only_port_is_told_to_use_tls(secure_redis: RedisSettings) -> None:
    plaintext = secure_redis.model_copy(update={"url": secure_redis.url.replace("rediss://", "redis://"),
                                                "ssl_ca_certs": None})  # fmt: skip
    assert "use a rediss:// url" in _refused_quickly(plaintext)
