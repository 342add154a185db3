"""Driftline settings → faust App options (broker, credentials, batching, web server for /metrics)."""

from __future__ import annotations

import ssl
from typing import Any

import faust

from driftline.settings import KafkaSettings, Settings


def broker_credentials(kafka: KafkaSettings) -> Any:
    """faust credentials for the configured security protocol (None on PLAINTEXT)."""
    context = None
    if kafka.security_protocol in ("SSL", "SASL_SSL"):
        context = ssl.create_default_context(cafile=str(kafka.ssl_cafile) if kafka.ssl_cafile else None)
        if kafka.ssl_certfile:
            context.load_cert_chain(str(kafka.ssl_certfile), str(kafka.ssl_keyfile) if kafka.ssl_keyfile else None)
    if kafka.security_protocol.startswith("SASL_"):
        return faust.SASLCredentials(
            username=kafka.sasl_username,
            password=kafka.sasl_password.get_secret_value() if kafka.sasl_password else None,
            mechanism=kafka.sasl_mechanism,
            ssl_context=context,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None


def faust_options(settings: Settings, worker_index: int) -> dict[str, Any]:
    p = settings.processor
    return {
        "broker": [f"kafka://{server}" for server in settings.kafka.bootstrap_servers.split(",")],
        "broker_credentials": broker_credentials(settings.kafka),
        "key_serializer": "raw",
        "value_serializer": "raw",
        "store": "memory://",
        "topic_disable_leader": True,
        "autodiscover": False,
        "datadir": str(settings.stack.data_dir.parent / "processor" / f"worker-{worker_index}"),
        # faust consumes only model updates. From the earliest: a consumer assigned after an update was sent must
        # not skip it, and replaying is harmless (each update only makes the worker follow the registry's alias).
        "consumer_auto_offset_reset": "earliest",
        "broker_session_timeout": 10.0,
        "broker_heartbeat_interval": 3.0,
        "broker_commit_interval": 1.0,
        "broker_max_poll_records": max(p.batch_max, 500),
        "stream_buffer_maxsize": max(4 * p.batch_max, 4096),
        "producer_acks": -1,
        "producer_linger_ms": 5,
        "producer_compression_type": "lz4",
        "web_enabled": True,
        "web_bind": p.metrics_host,
        "web_host": p.metrics_host,
        "web_port": p.metrics_port_base + worker_index,
        "web_in_thread": False,
    }
