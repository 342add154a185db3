"""Reading a whole topic back in tests (with a fresh consumer group, from the beginning)."""

from __future__ import annotations

import time
import uuid
from typing import Any

from kafka import KafkaConsumer

from driftline.kafka_clients import client_options
from driftline.settings import KafkaSettings


def read_topic(kafka: KafkaSettings, topic: str, *, expect: int, timeout: float = 60) -> list[Any]:
    """Every message of ``topic`` until ``expect`` have arrived; fails with what was seen at the deadline."""
    consumer = KafkaConsumer(
        topic,
        group_id=f"test-reader-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=1000,
        **client_options(kafka),
    )
    messages: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while len(messages) < expect and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                messages.extend(batch)
    finally:
        consumer.close()
    assert len(messages) >= expect, f"read {len(messages)} of {expect} expected messages from {topic}"
    return messages


def messages_in(kafka: KafkaSettings, topic: str) -> int:
    """How many messages ``topic`` holds: the sum of its partitions' end offsets."""
    from kafka import TopicPartition

    consumer = KafkaConsumer(**client_options(kafka))
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return sum(consumer.end_offsets(partitions).values())
    finally:
        consumer.close()
