"""The most recent labeled records, read back from Kafka: records joined with their labels by id.

The tail of each partition of both topics is read without a consumer group (nothing is committed, the processors
are not disturbed), from the change point on when there is one (``since_ms``, found with the broker's time index);
records are validated with the same contract as the stream, and those with a label are kept, newest by event time
last.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from driftline.contract import Contract
from driftline.errors import DataError
from driftline.kafka_clients import client_options
from driftline.messages import decode_label_event
from driftline.progress import progress_bar
from driftline.settings import KafkaSettings
from driftline.sources.base import frame_from_batch
from driftline.topics import Topics
from driftline.validation import Validator

logger = logging.getLogger(__name__)


def read_tail(kafka: KafkaSettings, topic: str, per_topic: int, *, since_ms: int | None = None,
              timeout_s: float = 60.0) -> list[Any]:  # fmt: skip
    """Up to ``per_topic`` of the newest messages of ``topic`` (spread over its partitions); with ``since_ms``, none
    appended before that moment."""
    import time

    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(enable_auto_commit=False, group_id=None, **client_options(kafka))
    try:
        partitions = sorted(consumer.partitions_for_topic(topic) or ())
        if not partitions:
            raise DataError(f"topic {topic} does not exist or has no partitions")
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        ends = consumer.end_offsets(tps)
        begins = consumer.beginning_offsets(tps)
        since = consumer.offsets_for_times({tp: since_ms for tp in tps}) if since_ms is not None else {}
        share = max(1, per_topic // len(tps))
        remaining = {}
        for tp in tps:
            start = max(begins[tp], ends[tp] - share)
            if since_ms is not None:  # no message at or after since_ms: nothing of this partition
                found = since.get(tp)
                start = max(start, found.offset if found is not None else ends[tp])
            consumer.seek(tp, start)
            if ends[tp] > start:
                remaining[tp] = ends[tp]
        messages: list[Any] = []
        deadline = time.monotonic() + timeout_s
        total = sum(end - consumer.position(tp) for tp, end in remaining.items())
        with progress_bar(f"reading {topic}", total=total) as advance:
            while remaining and time.monotonic() < deadline:
                for tp, batch in consumer.poll(timeout_ms=500, max_records=10_000).items():
                    end = remaining.get(tp)
                    if end is None:
                        continue
                    before = len(messages)
                    messages.extend(m for m in batch if m.offset < end)
                    advance(len(messages) - before)
                    if batch and batch[-1].offset + 1 >= end:
                        del remaining[tp]
        if remaining:
            raise DataError(f"reading the tail of {topic} timed out after {timeout_s:.0f}s")
        return messages
    finally:
        consumer.close()


def join_labeled(records: list[bytes], labels: list[bytes], contract: Contract) -> tuple[pd.DataFrame, int]:
    """Records that have a label, as a training frame sorted by event time; also how many records were invalid."""
    by_id: dict[str, Any] = {}
    for raw in labels:
        event = decode_label_event(raw)
        if event is not None:
            by_id[event.id] = event.label
    batch, rejections = Validator(contract).validate_batch(records)
    # the same id may have been produced more than once: keep its last occurrence
    last = {rid: position for position, rid in enumerate(batch.ids) if rid in by_id}
    labeled = batch.take(np.fromiter(last.values(), dtype=np.int64, count=len(last)))
    frame = frame_from_batch(labeled, [by_id[rid] for rid in labeled.ids], contract) if last else pd.DataFrame()
    if len(frame):
        frame = frame.sort_values(contract.event_time_field, kind="stable").reset_index(drop=True)
    return frame, len(rejections)


def recent_labeled(kafka: KafkaSettings, contract: Contract, window: int, *,
                   since_ms: int | None = None) -> pd.DataFrame:  # fmt: skip
    """The ``window`` most recent labeled records (with ``since_ms``: of those whose event time is at or after it), as
    a training frame. Keys spread unevenly over partitions and labels lag records, so more is read from each
    partition's tail than the window, and the newest ``window`` by event time are kept."""
    return recent_labeled_window(kafka, contract, window, since_ms=since_ms)[0]


def recent_labeled_window(kafka: KafkaSettings, contract: Contract, window: int, *,
                          since_ms: int | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:  # fmt: skip
    """:func:`recent_labeled`, and the window it read, for a version's lineage (:func:`window_of`)."""
    topics = Topics(kafka.topic_prefix)
    labels = read_tail(kafka, topics.labels, int(window * 1.25), since_ms=since_ms)
    records = read_tail(kafka, topics.records, int(window * 1.5), since_ms=since_ms)
    frame, rejected = join_labeled([m.value for m in records], [m.value for m in labels], contract)
    if since_ms is not None and len(frame):
        frame = frame[frame[contract.event_time_field] >= since_ms].reset_index(drop=True)
    if len(frame) > window:
        frame = frame.iloc[-window:].reset_index(drop=True)
    logger.info("recent data: %d labeled records since_ms=%s (read %d records, %d labels, %d invalid)", len(frame),
                since_ms, len(records), len(labels), rejected)  # fmt: skip
    read = {topics.records: offset_ranges(records), topics.labels: offset_ranges(labels)}
    return frame, window_of(frame, contract, read, since_ms=since_ms, cap=window)


def offset_ranges(messages: Sequence[Any]) -> dict[str, list[int]]:
    """``{partition: [first offset, last offset]}`` of the messages read (both inclusive), partitions in order."""
    ranges: dict[int, list[int]] = {}
    for m in messages:
        span = ranges.setdefault(m.partition, [m.offset, m.offset])
        span[0], span[1] = min(span[0], m.offset), max(span[1], m.offset)
    return {str(p): ranges[p] for p in sorted(ranges)}


def window_of(frame: pd.DataFrame, contract: Contract, read: dict[str, dict[str, list[int]]], *,
              since_ms: int | None, cap: int) -> dict[str, Any]:  # fmt: skip
    """A retrain's training window as its lineage records it: the offsets read per topic and partition, the
    change point and cap it was read with, and the rows kept with their event-time range (epoch ms)."""
    times = frame[contract.event_time_field] if len(frame) else None
    event_time = None if times is None else {"first": int(times.min()), "last": int(times.max())}
    return {"kind": "kafka", "topics": read, "since_ms": since_ms, "cap": cap, "rows": len(frame),
            "event_time": event_time}  # fmt: skip
