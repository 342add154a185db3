"""Driftline settings → faust App options (broker, credentials, batching, web server for /metrics)."""

from __future__ import annotations

from typing import Any

from faust.tables import TableManager

from driftline.kafka_clients import faust_credentials
from driftline.settings import Settings


class NoTables(TableManager):
    """faust's table manager without the one-second pause it takes at start for tables to register: the worker
    defines none, and that second is a third of a worker's cold start (docs/performance.md)."""

    async def on_start(self) -> None:
        if not self.should_stop:
            await self._update_channels()
            await self.recovery.start()


def faust_options(settings: Settings, worker_index: int) -> dict[str, Any]:
    p = settings.processor
    return {
        "broker": [f"kafka://{server}" for server in settings.kafka.bootstrap_servers.split(",")],
        "broker_credentials": faust_credentials(settings.kafka),
        "key_serializer": "raw",
        "value_serializer": "raw",
        "store": "memory://",
        "TableManager": NoTables,
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
