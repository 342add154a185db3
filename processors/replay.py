"""``driftline replay``: score a range of the records topic again with the versions that served it, and compare.

The truth of which version served a record is its prediction document on the predictions topic (it names the
record's partition and offset, the version and the preprocessing fingerprint); the records are grouped by it and
each group goes through the worker's own ``ScoringStep`` (validation, persisted preprocessing, LiteRT, batched),
with the version loaded and verified from the registry as a worker loads it. Records the workers dead-lettered are
counted from the dead-letter topic's headers; records with neither are missing predictions. The swap records the
workers left on the model-swaps topic are listed for the range, as a cross-check a reader can follow.

A range is per partition: offsets (``--from 100 --to 200``: [100, 200) on each chosen partition) or the records'
Kafka timestamps (ISO-8601 with a zone). The predictions and dead letters are read from a little before the
range's first record was written (records are scored after they are written) to the end.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from kafka import KafkaConsumer, TopicPartition

from driftline.bundle import ModelBundle
from driftline.errors import DriftlineError
from driftline.kafka_clients import client_options
from driftline.messages import (
    ModelSwap,
    RecordedPrediction,
    decode_dead_letter,
    decode_model_swap,
    decode_recorded_prediction,
)
from driftline.registry import Registry
from driftline.settings import Settings
from driftline.topics import Topics
from processors.replay_check import ReplayReport, VersionTally, compare, record
from processors.scoring_step import ScoringStep

logger = logging.getLogger(__name__)

Span = tuple[int, int]  # [first offset, end offset)
Bound = int | datetime | None  # an offset, a time, or the topic's start (from) / end (to)
BATCH = 2000  # records scored per call when replaying, as a worker's batch
EARLIER_MS = 60_000  # predictions are read from this long before the range's first record was written
IDLE_SECONDS = 30.0  # reading gives up when a topic yields nothing for this long before its end


@dataclass(frozen=True)
class ReplayRange:
    partitions: tuple[int, ...] | None  # None: all of them
    start: Bound
    end: Bound


def _reader(settings: Settings) -> KafkaConsumer:
    return KafkaConsumer(group_id=None, enable_auto_commit=False, **client_options(settings.kafka))


def _partitions(consumer: KafkaConsumer, topic: str) -> list[TopicPartition]:
    found = consumer.partitions_for_topic(topic)
    if not found:
        raise DriftlineError(f"topic {topic} does not exist (driftline topics create)")
    return [TopicPartition(topic, p) for p in sorted(found)]


def _offsets(consumer: KafkaConsumer, tps: list[TopicPartition], bound: Bound, at_end: dict[TopicPartition, int],
             at_start: dict[TopicPartition, int]) -> dict[TopicPartition, int]:  # fmt: skip
    if bound is None:
        return dict(at_end)
    if isinstance(bound, int):
        return {tp: min(max(bound, at_start[tp]), at_end[tp]) for tp in tps}
    found = consumer.offsets_for_times({tp: int(bound.timestamp() * 1000) for tp in tps})
    return {tp: at_end[tp] if found.get(tp) is None else found[tp].offset for tp in tps}


def resolve(consumer: KafkaConsumer, topic: str, wanted: ReplayRange) -> dict[TopicPartition, tuple[int, int]]:
    """Each chosen partition's [first, end) offsets."""
    tps = _partitions(consumer, topic)
    if wanted.partitions is not None:
        unknown = sorted(set(wanted.partitions) - {tp.partition for tp in tps})
        if unknown:
            raise DriftlineError(f"{topic} has partitions 0-{len(tps) - 1}; there is no partition {unknown[0]}")
        tps = [tp for tp in tps if tp.partition in wanted.partitions]
    at_start, at_end = consumer.beginning_offsets(tps), consumer.end_offsets(tps)
    start = {tp: at_start[tp] for tp in tps} if wanted.start is None else _offsets(consumer, tps, wanted.start,
                                                                                    at_end, at_start)  # fmt: skip
    end = _offsets(consumer, tps, wanted.end, at_end, at_start)
    return {tp: (start[tp], max(start[tp], end[tp])) for tp in tps}


def read(consumer: KafkaConsumer, ranges: dict[TopicPartition, tuple[int, int]]) -> Iterator[Any]:
    """Every message in the ranges (aiokafka-like ConsumerRecords), partition by partition in offset order."""
    todo = {tp: span for tp, span in ranges.items() if span[0] < span[1]}
    if not todo:
        return
    consumer.assign(list(todo))
    for tp, (first, _) in todo.items():
        consumer.seek(tp, first)
    idle_until = time.monotonic() + IDLE_SECONDS
    while todo:
        polled = consumer.poll(timeout_ms=500, max_records=BATCH)
        if polled:
            idle_until = time.monotonic() + IDLE_SECONDS
        for tp, messages in polled.items():
            end = todo[tp][1] if tp in todo else -1
            yield from (m for m in messages if m.offset < end)
        for tp in list(todo):
            if consumer.position(tp) >= todo[tp][1]:
                del todo[tp]
                consumer.pause(tp)
        if todo and time.monotonic() > idle_until:
            left = ", ".join(f"{tp.topic}:{tp.partition}@{consumer.position(tp)}<{todo[tp][1]}" for tp in todo)
            raise DriftlineError(f"reading stalled for {IDLE_SECONDS:.0f} s before the end of the range ({left})")


def _whole_topic_from(consumer: KafkaConsumer, topic: str, since_ms: int | None) -> dict[TopicPartition, Span]:
    tps = _partitions(consumer, topic)
    at_start, at_end = consumer.beginning_offsets(tps), consumer.end_offsets(tps)
    if since_ms is None:
        return {tp: (at_start[tp], at_end[tp]) for tp in tps}
    found = consumer.offsets_for_times({tp: since_ms for tp in tps})
    return {tp: (at_end[tp] if found.get(tp) is None else found[tp].offset, at_end[tp]) for tp in tps}


class Versions:
    """Each version's scoring step, loaded (and verified against its golden records) once, on first use."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._steps: dict[int, ScoringStep | str] = {}

    def step(self, version: int) -> ScoringStep | str:
        """The step, or why the version cannot be loaded."""
        if version not in self._steps:
            try:
                self._steps[version] = ScoringStep(ModelBundle.load(self.registry, version, warm_up=False))
            except DriftlineError as exc:
                self._steps[version] = f"version {version} does not load: {exc}"
        return self._steps[version]


def replay(settings: Settings, wanted: ReplayRange, registry: Registry) -> ReplayReport:
    topics = Topics(settings.kafka.topic_prefix)
    consumer = _reader(settings)
    try:
        ranges = resolve(consumer, topics.records, wanted)
        records = {(m.partition, m.offset): m for m in read(consumer, ranges)}
        first_written = min((m.timestamp for m in records.values()), default=None)
        since = None if first_written is None else first_written - EARLIER_MS
        spans = {tp.partition: span for tp, span in ranges.items()}

        def inside(partition: int, offset: int) -> bool:
            span = spans.get(partition)
            return span is not None and span[0] <= offset < span[1]

        recorded: dict[tuple[int, int], list[RecordedPrediction]] = defaultdict(list)
        for m in read(consumer, _whole_topic_from(consumer, topics.predictions, since)):
            try:
                prediction = decode_recorded_prediction(m.value)
            except ValueError as exc:
                logger.warning("skipping partition=%s offset=%s of %s: %s", m.partition, m.offset, m.topic, exc)
                continue
            if prediction is not None and inside(prediction.partition, prediction.offset):
                recorded[(prediction.partition, prediction.offset)].append(prediction)
        dead: set[tuple[int, int]] = set()
        for m in read(consumer, _whole_topic_from(consumer, topics.dead_letter, since)):
            try:
                letter = decode_dead_letter(m.headers)
            except ValueError as exc:
                logger.warning("skipping partition=%s offset=%s of %s: %s", m.partition, m.offset, m.topic, exc)
                continue
            if letter.topic == topics.records and inside(letter.partition, letter.offset):
                dead.add((letter.partition, letter.offset))
        swaps = [decode_model_swap(m.value) for m in read(consumer, _whole_topic_from(consumer, topics.model_swaps,
                                                                                      since))]  # fmt: skip
    finally:
        consumer.close()

    tallies = _rescore(records, recorded, Versions(registry))
    missing = sorted(position for position in records if position not in recorded and position not in dead)
    swap_lines = [_swap_line(s) for s in swaps if s is not None and s.topic == topics.records
                  and any(inside(p, o) for p, o in s.positions.items())]  # fmt: skip
    return ReplayReport(topic=topics.records, ranges=spans, records=len(records), tallies=tallies, missing=missing,
                        dead_letters=len(dead & set(records)), swaps=swap_lines)  # fmt: skip


def _swap_line(swap: ModelSwap) -> str:
    where = " ".join(f"{p}:{o}" for p, o in sorted(swap.positions.items()))
    return f"swap: worker {swap.worker} began version {swap.version} (after {swap.previous}) at {where}"


def _rescore(records: dict[tuple[int, int], Any], recorded: dict[tuple[int, int], list[RecordedPrediction]],
             versions: Versions) -> list[VersionTally]:  # fmt: skip
    by_version: dict[int, list[RecordedPrediction]] = defaultdict(list)
    for position, predictions in recorded.items():
        if position in records:
            for prediction in predictions:
                by_version[prediction.version].append(prediction)
    tallies = []
    for version, predictions in sorted(by_version.items()):
        tally = VersionTally(version)
        tallies.append(tally)
        step = versions.step(version)
        if isinstance(step, str):
            for prediction in predictions:
                record(tally, prediction, step, False)
            continue
        tally.fingerprint = step.bundle.fingerprint
        unique = sorted({(p.partition, p.offset) for p in predictions})
        replayed: dict[tuple[int, int], dict[str, Any]] = {}
        for start in range(0, len(unique), BATCH):
            messages = [records[position] for position in unique[start : start + BATCH]]
            result = step(messages)
            for index, document in zip(result.indexes, result.documents, strict=True):
                replayed[(messages[index].partition, messages[index].offset)] = orjson.loads(document)
        for prediction in predictions:
            again = replayed.get((prediction.partition, prediction.offset))
            if again is None:
                record(tally, prediction, "the record is rejected when validated again", False)
                continue
            score = again["score"] if "score" in again else again["scores"]
            why, exact = compare(prediction, score, again["label"], again["fingerprint"])
            record(tally, prediction, why, exact)
    return tallies
