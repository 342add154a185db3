"""Joins late labels with stored predictions: matched/unmatched counts, and per model version a rolling accuracy and a
change detector on its error stream (a rise of the error rate is a drift, found within a few hundred labels).

A label may arrive before its prediction is written (labels sent at once, or a worker behind its records); it
then waits, and is looked up again every ``retry_seconds`` until a grace period ends, when it is counted as
unmatched. Waiting labels are looked up only when due, never with every batch: a backlog of waiting labels must not
turn each batch into a lookup of all of them.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence

from driftline.change import Adwin
from driftline.messages import (
    LabelEvent,
    decode_label_event,
    decode_prediction,
    prediction_key,
    shadow_key,
    shadow_pairs_key,
)
from driftline.settings import RedisSettings
from processors.metrics import ProcessorMetrics
from processors.redis_sink import RedisClient, get_many, until_redis_answers

logger = logging.getLogger(__name__)


def pair_outcome(production_correct: bool, staging_correct: bool) -> str:
    """How one labeled record scored by both versions came out (a field of ``shadow_pairs_key``'s hash)."""
    if production_correct == staging_correct:
        return "both_right" if production_correct else "both_wrong"
    return "staging_only" if staging_correct else "production_only"


class RollingAccuracy:
    """Accuracy over the last ``size`` labeled predictions of each model version."""

    def __init__(self, size: int = 2000) -> None:
        self.size = size
        self._hits: dict[int, deque[bool]] = {}
        self._sums: dict[int, int] = {}

    def add(self, version: int, correct: bool) -> None:
        window = self._hits.setdefault(version, deque())
        total = self._sums.get(version, 0) + int(correct)
        window.append(correct)
        if len(window) > self.size:
            total -= int(window.popleft())
        self._sums[version] = total

    def accuracy(self, version: int) -> float | None:
        window = self._hits.get(version)
        return self._sums[version] / len(window) if window else None

    def versions(self) -> list[int]:
        return sorted(self._hits)


class ErrorRateChange:
    """One one-sided ADWIN per model version on its labeled error stream (1 = wrong), a fresh one for each new
    version; each rise found is counted, with where it began (a position in the version's labeled stream, and the
    event time of the record there, which the trainer learns from) in the metrics.

    The event times of the last ``memory`` labeled records are kept to date the change point; one further back
    (a slow drift over a long window) is dated by the oldest kept, which errs towards learning from later records.
    """

    def __init__(
        self,
        metrics: ProcessorMetrics,
        *,
        delta: float,
        min_window: int,
        grace: int,
        memory: int = 20_000,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.metrics = metrics
        self.delta = delta
        self.min_window = min_window
        self.grace = grace
        self.memory = memory
        self._wall_clock = wall_clock
        self._detectors: dict[int, Adwin] = {}
        self._times: dict[int, deque[float]] = {}  # per version: event times (epoch s) of its last labeled records

    def add(self, version: int, wrong: bool, event_time_ms: int | None = None) -> None:
        detector = self._detectors.get(version)
        if detector is None:
            detector = Adwin(self.delta, min_window_length=self.min_window, grace_period=self.grace, one_sided=True)
            self._detectors[version] = detector
            self._times[version] = deque(maxlen=self.memory)
            self.metrics.error_rate_changes.labels(version=str(version))  # from 0: increase() sees the first one
        times = self._times[version]
        times.append(event_time_ms / 1000.0 if event_time_ms is not None else self._wall_clock())
        detector.update(1.0 if wrong else 0.0)
        if detector.drift_detected and detector.change is not None:
            change = detector.change
            label = str(version)
            self.metrics.error_rate_changes.labels(version=label).inc()
            self.metrics.error_rate_change_position.labels(version=label).set(change.position)
            back = detector.n_seen - 1 - change.position  # records since the change point, the newest is 0
            self.metrics.error_rate_change_time.labels(version=label).set(times[-1 - min(back, len(times) - 1)])
            logger.warning(
                "error rate rose: model_version=%s from %.3f to %.3f, change at labeled record %d, detected at %d",
                version, change.mean_before, change.mean_after, change.position, change.detected_at,
            )  # fmt: skip

    def estimate(self, version: int) -> float | None:
        """The version's error rate over its detector's window, None before its first label."""
        detector = self._detectors.get(version)
        return detector.estimation if detector is not None and detector.width else None


class LabelJoin:
    def __init__(
        self,
        client: RedisClient,
        settings: RedisSettings,
        metrics: ProcessorMetrics,
        *,
        window: int = 2000,
        grace_seconds: float = 30.0,
        retry_seconds: float = 1.0,
        max_pending: int = 200_000,
        due_per_lookup: int = 200,
        change_delta: float = 1e-8,  # the settings' defaults (ProcessorSettings.error_change_*)
        change_min_window: int = 5,
        change_grace: int = 10,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        model: str = "model",
    ) -> None:
        self.client = client
        self.model = model
        self.settings = settings
        self.metrics = metrics
        self.accuracy = RollingAccuracy(window)
        self.changes = ErrorRateChange(metrics, delta=change_delta, min_window=change_min_window, grace=change_grace,
                                       wall_clock=wall_clock)  # fmt: skip
        self.grace_seconds = grace_seconds
        self.retry_seconds = retry_seconds
        self.max_pending = max_pending
        self.due_per_lookup = due_per_lookup
        self._clock = clock
        # (deadline, next lookup, event), in order of next lookup (every entry waits the same retry_seconds)
        self._pending: deque[tuple[float, float, LabelEvent]] = deque()

    async def handle(self, raws: Sequence[bytes | None], *, stopping: Callable[[], bool] = lambda: False) -> bool:
        """Join one batch of label events (plus up to ``due_per_lookup`` waiting ones that are due) in one MGET.

        Waits for Redis when it is down; False only if asked to stop first (the batch must then not be acked).
        """
        now = self._clock()
        events: list[tuple[float, LabelEvent]] = []
        invalid = 0
        for raw in raws:
            event = decode_label_event(raw)
            if event is None:
                invalid += 1
            else:
                events.append((now + self.grace_seconds, event))
        if invalid:
            self.metrics.labels.labels(outcome="invalid").inc(invalid)
        # Taken out before the lookup: the timer's call and the consumer's may interleave.
        due: list[tuple[float, float, LabelEvent]] = []
        while self._pending and self._pending[0][1] <= now and len(due) < self.due_per_lookup:
            due.append(self._pending.popleft())
        events.extend((deadline, event) for deadline, _, event in due)
        if not events:
            return True
        prefix = self.settings.key_prefix
        # the staging version's shadow prediction of each record too, in the same lookup (processors/shadow.py)
        keys = [prediction_key(prefix, e.id).encode() for _, e in events]  # bytes: see RedisSink.write
        keys += [shadow_key(prefix, e.id).encode() for _, e in events]
        found = await until_redis_answers(
            lambda: get_many(self.client, keys),
            what=f"lookup of {len(keys)} labels",
            stopping=stopping,
            on_retry=lambda exc: self.metrics.redis_retries.inc(),
            client=self.client,
        )
        if found is None:  # asked to stop while Redis is down: the batch is not acked, the waiting ones stay
            self._pending.extendleft(reversed(due))
            return False
        stored, shadows = found[: len(events)], found[len(events) :]
        touched: set[int] = set()
        pairs: dict[tuple[int, int], Counter[str]] = {}
        matched = unmatched = 0
        for (deadline, event), document, shadow in zip(events, stored, shadows, strict=True):
            if document is None:
                if deadline > now and len(self._pending) < self.max_pending:
                    self._pending.append((deadline, now + self.retry_seconds, event))
                else:
                    unmatched += 1
                continue
            prediction = decode_prediction(document)
            version = prediction.version
            correct = str(prediction.label) == str(event.label)
            self.accuracy.add(version, correct)
            self.changes.add(version, not correct, prediction.event_time)
            matched += 1
            touched.add(version)
            if shadow is not None:
                staged = decode_prediction(shadow)
                if staged.version != version:
                    staged_correct = str(staged.label) == str(event.label)
                    self.accuracy.add(staged.version, staged_correct)
                    touched.add(staged.version)
                    pairs.setdefault((version, staged.version), Counter())[pair_outcome(correct, staged_correct)] += 1
        self.metrics.labels.labels(outcome="matched").inc(matched)
        self.metrics.labels.labels(outcome="unmatched").inc(unmatched)
        if pairs and not await self._count_pairs(pairs, stopping):
            return False
        for version in touched:
            value = self.accuracy.accuracy(version)
            if value is not None:
                self.metrics.labeled_accuracy.labels(version=str(version)).set(value)
            error_rate = self.changes.estimate(version)
            if error_rate is not None:
                self.metrics.error_rate_estimate.labels(version=str(version)).set(error_rate)
        return True

    async def _count_pairs(self, pairs: dict[tuple[int, int], Counter[str]], stopping: Callable[[], bool]) -> bool:
        """Add the batch's paired outcomes to the shared counts the trainer reads (trainer/staging.py)."""

        async def add() -> bool:
            for (production, staging), counts in pairs.items():
                key = shadow_pairs_key(self.settings.key_prefix, self.model, production, staging)
                for outcome, n in counts.items():
                    await self.client.hincrby(key, outcome, n)  # type: ignore[misc]
            return True

        done = await until_redis_answers(add, what="count of shadow pairs", stopping=stopping,
                                         on_retry=lambda exc: self.metrics.redis_retries.inc(), client=self.client)
        return done is not None

    @property
    def pending(self) -> int:
        return len(self._pending)

    def has_due(self) -> bool:
        return bool(self._pending) and self._pending[0][1] <= self._clock()

    async def handle_due(self, *, stopping: Callable[[], bool] = lambda: False) -> None:
        """Look up every waiting label that is due, a lookup of at most ``due_per_lookup`` at a time.

        Between two lookups the event loop runs the records' batches: thousands of due labels (after a backlog)
        joined at once would hold it, and every record waiting meanwhile.
        """
        while self.has_due() and not stopping():
            if not await self.handle([], stopping=stopping):
                return
