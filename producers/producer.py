"""Streams a source into Kafka: records now, their labels after a delay, at a target rate."""

from __future__ import annotations

import gc
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice

from driftline.errors import DriftlineError
from driftline.messages import encode_label_event, encode_record
from driftline.settings import KafkaSettings
from driftline.sources import LabeledRecord, Source
from driftline.topics import Topics
from producers.bad_records import BadRecords
from producers.kafka_sender import KafkaSender

logger = logging.getLogger(__name__)

# At a target rate the producer sleeps only once it is this far ahead, and then sends the records that came due
# meanwhile at once (each stamped with its own send time), instead of a sleep and a wake-up before every record
# (5,000 a second at 5,000 records/s).
PACE_SECONDS = 0.002
# Labels are not waited for (the processor joins them when they come), so they get a producer of their own that
# waits longer to fill a batch. librdkafka sends one request per partition, so with labels lingering
# no longer than records, labels would make about half the broker's produce requests (docs/performance.md).
LABELS_LINGER_MS = 100


@dataclass(frozen=True)
class ProduceOptions:
    count: int | None = None  # None: until the source ends (generators: forever)
    rate: float | None = None  # records per second; None: as fast as possible
    label_delay_seconds: float = 0.0  # labels follow their records after this long; 0 = at once
    send_labels: bool = True
    bad_ratio: float = 0.0  # fraction of malformed records mixed in (for testing dead letters)
    keep_event_time: bool = False  # False: stamp event_time with the send time (end-to-end latency)
    seed: int = 0


@dataclass
class ProduceReport:
    records: int = 0
    bad_records: int = 0
    labels: int = 0
    labels_pending: int = 0
    failed: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0


class RecordProducer:
    """Sends a source's records (and later their labels) to the records and labels topics."""

    def __init__(self, kafka: KafkaSettings, *, clock: Callable[[], float] = time.monotonic,
                 wall_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000) -> None:  # fmt: skip
        self.topics = Topics(kafka.topic_prefix)
        self._records = KafkaSender(kafka, on_error=self._on_error)
        self._labels = KafkaSender(kafka, on_error=self._on_error, client_id="driftline-labels-producer",
                                   linger_ms=LABELS_LINGER_MS)  # fmt: skip
        self._clock = clock
        self._wall_ms = wall_ms
        self._report = ProduceReport()

    def _on_error(self, message: str, records: int) -> None:
        self._report.failed += records
        if message not in self._report.errors and len(self._report.errors) < 10:  # the first distinct errors
            self._report.errors.append(message)

    def _send_label(self, record_id: str, label: object, event_time: object) -> None:
        self._labels.send(self.topics.labels, record_id.encode(), encode_label_event(record_id, label, event_time))
        self._report.labels += 1

    def run(
        self,
        source: Source,
        options: ProduceOptions,
        *,
        progress: Callable[[ProduceReport], None] | None = None,
        stop: Callable[[], bool] = lambda: False,
    ) -> ProduceReport:
        """Stream until the count, the source's end, ``stop()``, or Ctrl-C; always flushes and reports."""
        # Whatever the process holds by now (imports: numpy, pandas, maybe TensorFlow) is long-lived. Full garbage
        # collections walking it stall the send loop, and every record sent meanwhile waits; freezing it leaves the
        # collector only the objects made while streaming.
        gc.collect()
        gc.freeze()
        contract = source.contract
        bad = BadRecords(contract, seed=options.seed) if options.bad_ratio > 0 else None
        rng = random.Random(options.seed)
        pending: deque[tuple[float, str, object, object]] = deque()  # (due, id, label, event_time)
        # Both topics must exist (a clear error now, not a failed delivery report per record later). librdkafka
        # picks each partition, as Kafka's default partitioner would (murmur2 of the key).
        self._records.partition_count(self.topics.records)
        self._labels.partition_count(self.topics.labels)
        report = self._report
        started = self._clock()
        records: Iterator[LabeledRecord] = iter(source.records())
        if options.count is not None:
            records = islice(records, options.count)
        try:
            for i, item in enumerate(records):
                if stop():
                    break
                if options.rate:
                    ahead = started + i / options.rate - self._clock()
                    if ahead > PACE_SECONDS:  # short bursts, not a sleep per record
                        time.sleep(ahead)
                now = self._clock()
                while pending and pending[0][0] <= now:
                    _, rid, label, when = pending.popleft()
                    self._send_label(rid, label, when)
                if bad is not None and rng.random() < options.bad_ratio:
                    key, payload = bad.next()
                    self._records.send(self.topics.records, key, payload)
                    report.bad_records += 1
                record = item.record
                if not options.keep_event_time:
                    record = {**record, contract.event_time_field: self._wall_ms()}
                record_id = str(record[contract.id_field])
                key = record_id.encode()
                self._records.send(self.topics.records, key, encode_record(record))
                report.records += 1
                if options.send_labels and item.label is not None:
                    when = record[contract.event_time_field]
                    if options.label_delay_seconds <= 0:
                        self._send_label(record_id, item.label, when)
                    else:
                        pending.append((now + options.label_delay_seconds, record_id, item.label, when))
                if progress is not None and i % 1000 == 0:
                    report.seconds = self._clock() - started
                    progress(report)
            while pending and not stop():  # let the last labels come due, as they would have
                wait = pending[0][0] - self._clock()
                if wait > 0:
                    time.sleep(min(wait, 0.5))
                    continue
                _, rid, label, when = pending.popleft()
                self._send_label(rid, label, when)
        except KeyboardInterrupt:
            logger.warning("interrupted: flushing what was sent")
        finally:
            report.labels_pending = len(pending)
            self._records.flush(timeout=60)
            self._labels.flush(timeout=60)
            report.seconds = self._clock() - started
            if progress is not None:
                progress(report)
        if report.failed or report.errors:
            raise DriftlineError(
                f"{report.failed} sends to Kafka failed (of {report.records + report.labels + report.bad_records}); "
                f"first errors: {report.errors}"
            )
        return report

    def close(self) -> None:
        self._records.close(timeout=30)
        self._labels.close(timeout=30)
