"""Removing a test's (or a benchmark's) own topics afterwards, so the shared broker does not grow run after run."""

from __future__ import annotations

import logging

from kafka.errors import KafkaError

from driftline.kafka_admin import admin_client
from driftline.settings import KafkaSettings

logger = logging.getLogger(__name__)


def delete_prefixed_topics(kafka: KafkaSettings) -> int:
    """Delete every topic named with ``kafka.topic_prefix`` (its five, and faust's); a failure is only logged."""
    prefix = kafka.topic_prefix
    if not prefix.startswith(("test-", "bench-")):
        raise ValueError(f"refusing to delete the topics of prefix {prefix!r}: not a test's or a benchmark's")
    admin = admin_client(kafka)
    try:
        names = [name for name in admin.list_topics() if name.startswith(prefix)]
        if names:
            admin.delete_topics(names, timeout_ms=30_000)
        return len(names)
    except KafkaError as exc:
        logger.warning("could not delete the topics of %s: %s", prefix, exc)
        return 0
    finally:
        admin.close()
