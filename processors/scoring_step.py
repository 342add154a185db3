"""One micro-batch, without I/O: validate → preprocess (persisted) → score → prediction documents.

Kept free of Kafka, Redis and faust so that it is tested directly and so that the stream adds no skew: the
documents it produces are what the offline ``ModelBundle.predict`` gives for the same records.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from driftline.bundle import ModelBundle
from driftline.messages import encode_predictions
from driftline.records import RecordBatch, Rejection
from driftline.validation import Validator


class Incoming(Protocol):
    """A message as consumed (aiokafka's ``ConsumerRecord``, passed on as it is): its bytes and where it came from."""

    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...


@dataclass(frozen=True)
class StepResult:
    ids: list[str]
    indexes: list[int]  # each prediction's position in the input batch
    documents: list[bytes]  # the prediction JSON, as written to Redis and the predictions topic
    event_time_ms: np.ndarray
    rejections: list[Rejection]
    counts: dict[str, np.ndarray]  # drift count vectors for this batch (against the model's profile)
    inference_seconds: float
    version: int


class ScoringStep:
    """Scores batches with one model bundle; a new bundle means a new ScoringStep (built off the hot path)."""

    def __init__(self, bundle: ModelBundle) -> None:
        self.bundle = bundle
        self.validator = Validator(bundle.contract)
        self._binary = bundle.scorer.binary

    def __call__(self, messages: list[Incoming], *, now: float | None = None) -> StepResult:
        batch, rejections = self.validator.validate_batch([m.value for m in messages])
        started = time.perf_counter()
        if len(batch):
            scored = self.bundle.predict(batch.columns)
            counts = self.bundle.profile.counts(batch.columns, scored.scores)
            scores, labels = scored.scores, scored.labels
        else:
            scores, labels, counts = np.empty(0), [], {}
        inference = time.perf_counter() - started
        sources = [messages[i] for i in batch.index.tolist()]
        documents = self._documents(batch, scores, labels, sources, now=time.time() if now is None else now)
        return StepResult(
            ids=batch.ids,
            indexes=batch.index.tolist(),
            documents=documents,
            event_time_ms=batch.event_time_ms,
            rejections=rejections,
            counts=counts,
            inference_seconds=inference,
            version=self.bundle.version,
        )

    def _documents(self, batch: RecordBatch, scores: np.ndarray, labels: list[object], sources: list[Incoming], *,
                   now: float) -> list[bytes]:  # fmt: skip
        b = self.bundle
        return encode_predictions(batch.ids, model=b.model_name, version=b.version, fingerprint=b.fingerprint,
                                  scored_at=now, binary=self._binary, scores=scores.tolist(), labels=labels,
                                  event_times=batch.event_time_ms.tolist(), partitions=[m.partition for m in sources],
                                  offsets=[m.offset for m in sources])  # fmt: skip
