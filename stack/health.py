"""Real health probes: a Kafka metadata request, Redis PING, Prometheus and Alertmanager readiness."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from driftline.kafka_clients import client_options
from driftline.settings import KafkaSettings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Health:
    healthy: bool
    version: str = ""
    detail: str = ""


def _http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def kafka_health(port: int, host: str = "127.0.0.1", *, brokers_expected: int = 1,
                 kafka: KafkaSettings | None = None) -> Health:  # fmt: skip
    """Ask the broker for cluster metadata, the way a client would (with ``kafka``'s security settings, if given);
    healthy once it lists ``brokers_expected`` brokers (a node of a cluster answers before its peers have all
    registered, and a client that then asks for the controller may be sent to a broker it does not know yet)."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    from stack.process import port_open

    if not port_open(port, host):
        return Health(False, detail=f"nothing listening on {host}:{port}")
    try:
        admin = KafkaAdminClient(
            **{**(client_options(kafka) if kafka is not None else {}), "bootstrap_servers": f"{host}:{port}"},
            request_timeout_ms=3000,
            bootstrap_timeout_ms=3000,
            client_id="driftline-health",
        )
    except (KafkaError, OSError, ValueError) as exc:
        return Health(False, detail=f"no metadata: {exc.__class__.__name__}: {exc}")
    try:
        cluster = admin.describe_cluster()
        brokers = cluster.get("brokers", [])
        if len(brokers) < brokers_expected:
            return Health(False, detail=f"metadata lists {len(brokers)} of {brokers_expected} brokers")
        return Health(True, detail=f"{len(brokers)} broker(s)")
    except (KafkaError, OSError, ValueError) as exc:
        return Health(False, detail=f"describe_cluster failed: {exc.__class__.__name__}: {exc}")
    finally:
        admin.close()


def redis_health(port: int, host: str = "127.0.0.1", options: dict[str, Any] | None = None, *, tls: bool = False,
                 cluster: bool = False) -> Health:  # fmt: skip
    """PING answered; for a cluster node also its view of the cluster (healthy before the cluster is formed too:
    ``driftline stack up`` forms it once every node answers). ``options``: user, password and TLS files as
    ``driftline.redis_clients.connection_options`` spells them; ``tls`` to speak TLS."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    client = redis.Redis(
        host=host, port=port, socket_timeout=2, socket_connect_timeout=2, ssl=tls, **(options or {}),
        retry=Retry(NoBackoff(), 0),  # a probe answers once; redis-py's default retries take ~25 s
    )
    try:
        if not client.ping():
            return Health(False, detail="PING did not answer PONG")
        info = client.info("server")
        detail = ""
        if cluster:
            state = cluster_info(client)
            role = client.info("replication").get("role", "?")
            detail = f"{role}, cluster {state.get('cluster_state', '?')}, {state.get('cluster_known_nodes', '?')} nodes"
        return Health(True, version=str(info.get("redis_version", "")), detail=detail)
    except redis.RedisError as exc:
        return Health(False, detail=f"{exc.__class__.__name__}: {exc}")
    finally:
        client.close()


def cluster_info(client: Any) -> dict[str, str]:
    """``CLUSTER INFO`` as a dict of strings (redis-py's parsing of it differs between versions)."""
    raw = client.execute_command("CLUSTER INFO")
    if isinstance(raw, dict):
        return {str(k): str(v) for k, v in raw.items()}
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    return dict(line.split(":", 1) for line in text.strip().splitlines() if ":" in line)


def _ready_with_version(port: int, host: str, version_path: str, version_of: Callable[[Any], Any]) -> Health:
    """``/-/ready`` must answer 200; the version comes from a JSON status endpoint."""
    try:
        status, _ = _http_get(f"http://{host}:{port}/-/ready")
        if status != 200:
            return Health(False, detail=f"/-/ready answered {status}")
        _, body = _http_get(f"http://{host}:{port}{version_path}")
        return Health(True, version=str(version_of(json.loads(body))))
    except (OSError, ValueError, KeyError) as exc:
        return Health(False, detail=f"{exc.__class__.__name__}: {exc}")


def prometheus_health(port: int, host: str = "127.0.0.1") -> Health:
    return _ready_with_version(port, host, "/api/v1/status/buildinfo", lambda d: d["data"]["version"])


def alertmanager_health(port: int, host: str = "127.0.0.1") -> Health:
    return _ready_with_version(port, host, "/api/v2/status", lambda d: d["versionInfo"]["version"])
