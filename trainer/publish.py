"""Announcing a production change on ``driftline.model-updates`` (compacted, keyed by model name)."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from driftline.errors import DriftlineError
from driftline.registry import Registry
from driftline.settings import KafkaSettings
from driftline.topics import Topics


def publish_update(kafka: KafkaSettings, registry: Registry) -> dict[str, object]:
    """Send the current production version of ``registry``'s model; returns the message sent."""
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    alias = registry.alias("production")
    if alias is None:
        raise DriftlineError(f"model {registry.model!r} has no production version to announce")
    message = {
        "model": registry.model,
        "version": alias.version,
        "fingerprint": registry.manifest(alias.version).fingerprint,
        "set_at": datetime.now(UTC).isoformat(),
    }
    try:
        producer = KafkaProducer(acks="all", client_id="driftline-trainer", **kafka.client_options())
        try:
            producer.send(Topics(kafka.topic_prefix).model_updates, key=registry.model.encode(),
                          value=orjson.dumps(message)).get(timeout=30)  # fmt: skip
        finally:
            producer.close(timeout=10)
    except KafkaError as exc:
        raise DriftlineError(f"could not announce version {alias.version} on Kafka: {exc}") from exc
    return message
