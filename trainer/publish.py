"""Announcing a production change on ``driftline.model-updates`` (compacted, keyed by model name)."""

from __future__ import annotations

from driftline.errors import DriftlineError
from driftline.kafka_clients import client_options
from driftline.messages import ModelUpdate, encode_model_update
from driftline.registry import Registry
from driftline.settings import KafkaSettings
from driftline.topics import Topics


def publish_update(kafka: KafkaSettings, registry: Registry) -> ModelUpdate:
    """Send the current production version of ``registry``'s model; returns the message sent."""
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    alias = registry.alias("production")
    if alias is None:
        raise DriftlineError(f"model {registry.model!r} has no production version to announce")
    update = ModelUpdate.now(registry.model, alias.version, registry.manifest(alias.version).fingerprint)
    try:
        producer = KafkaProducer(acks="all", client_id="driftline-trainer", **client_options(kafka))
        try:
            producer.send(Topics(kafka.topic_prefix).model_updates, key=registry.model.encode(),
                          value=encode_model_update(update)).get(timeout=30)  # fmt: skip
        finally:
            producer.close(timeout=10)
    except KafkaError as exc:
        raise DriftlineError(f"could not announce version {alias.version} on Kafka: {exc}") from exc
    return update
