"""Every message on the wire, built and parsed here and nowhere else (DESIGN section 5).

- a record on ``<prefix>records``: the contract's flat JSON object (``encode_record``);
- a label event on ``<prefix>labels``: ``{"id", "label", "event_time"}``;
- a prediction document, in Redis under ``prediction_key`` and on ``<prefix>predictions``;
- a model update on ``<prefix>model-updates``: ``{"model", "version", "fingerprint", "set_at"}``;
- a model swap on ``<prefix>model-swaps``: where in the records topic a worker's new version began to score;
- the headers of a dead letter on ``<prefix>dead-letter``.

Producers, processors and trainer all go through these functions, so each format has one set of rules.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

logger = logging.getLogger(__name__)

DEAD_LETTER_ERROR_BYTES = 1000  # the dl.error header is cut to this many bytes


def encode_record(record: Mapping[str, Any]) -> bytes:
    """A contract record as it goes on the records topic."""
    return orjson.dumps(record)


# --- label events ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LabelEvent:
    """The ground truth for one record, possibly long after it was scored."""

    id: str
    label: object


def encode_label_event(record_id: str, label: object, event_time: object) -> bytes:
    return orjson.dumps({"id": record_id, "label": label, "event_time": event_time})


def decode_label_event(raw: bytes | None) -> LabelEvent | None:
    """The label event in ``raw``, or None if it is not one: not a JSON object, no label (or null), or an id that is
    neither a string nor an integer (booleans are not ids). A tombstone (None) is not one either."""
    if raw is None:
        return None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict) or data.get("label") is None:
        return None
    record_id = data.get("id")
    if isinstance(record_id, bool) or not isinstance(record_id, str | int):
        return None
    return LabelEvent(id=str(record_id), label=data["label"])


# --- predictions ----------------------------------------------------------------------------------------------


def prediction_key(key_prefix: str, record_id: str) -> str:
    """The Redis key of a record's prediction."""
    return f"{key_prefix}pred:{record_id}"


def shadow_key(key_prefix: str, record_id: str) -> str:
    """The Redis key of a record's shadow prediction (the staging version's; same document as ``prediction_key``'s)."""
    return f"{key_prefix}shadow:{record_id}"


SHADOW_PAIR_OUTCOMES = ("both_right", "both_wrong", "staging_only", "production_only")


def shadow_pairs_key(key_prefix: str, model: str, production: int, staging: int) -> str:
    """The Redis hash of paired label outcomes (fields ``SHADOW_PAIR_OUTCOMES``) of one staging version against one
    production version: records both scored whose label arrived, counted by the workers' label join."""
    return f"{key_prefix}shadow-pairs:{model}:{production}:{staging}"


@dataclass(frozen=True, slots=True)
class Prediction:
    """What the label join needs of a stored prediction."""

    id: str
    version: int
    label: object
    event_time: int | None = None  # the record's event time (epoch ms), as the worker wrote it


def encode_predictions(
    ids: Sequence[str],
    *,
    model: str,
    version: int,
    fingerprint: str,
    scored_at: float,
    binary: bool,
    scores: Sequence[Any],
    labels: Sequence[object],
    event_times: Sequence[int],
    partitions: Sequence[int] | None = None,
    offsets: Sequence[int] | None = None,
) -> list[bytes]:
    """One document per record: ``score`` (binary) or ``scores`` (multiclass), the predicted label, the version and
    preprocessing fingerprint that made it, the record's event time, when it was scored (epoch seconds, written as
    ISO-8601 UTC) and, for a record read from Kafka (``partitions[i] >= 0``), its ``partition`` and ``offset`` on the
    records topic, so that ``driftline replay`` can score it again."""
    head = {
        "model": model,
        "version": version,
        "fingerprint": fingerprint,
        "scored_at": datetime.fromtimestamp(scored_at, UTC).isoformat(timespec="milliseconds"),
    }
    score_key = "score" if binary else "scores"
    documents = [
        {"id": rid, **head, score_key: value, "label": label, "event_time": when}
        for rid, value, label, when in zip(ids, scores, labels, event_times, strict=True)
    ]
    if partitions is not None and offsets is not None:
        for document, partition, offset in zip(documents, partitions, offsets, strict=True):
            if partition >= 0:
                document["partition"] = partition
                document["offset"] = offset
    return [orjson.dumps(document) for document in documents]


def decode_prediction(raw: bytes | str) -> Prediction:
    """A stored prediction document (written by ``encode_predictions``); raises ValueError if it is not one."""
    try:
        data = orjson.loads(raw)
        when = data.get("event_time")
        known = isinstance(when, int) and not isinstance(when, bool)
        return Prediction(id=str(data["id"]), version=int(data["version"]), label=data["label"],
                          event_time=when if known else None)  # fmt: skip
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not a prediction document: {raw[:200]!r}") from exc


@dataclass(frozen=True, slots=True)
class RecordedPrediction:
    """What replay needs of a prediction read back from the predictions topic: where its record was, and what
    made it and what it said (``score``: a float for a binary model, a list of floats for a multiclass one)."""

    id: str
    partition: int
    offset: int
    version: int
    fingerprint: str
    score: float | list[float]
    label: object


def decode_recorded_prediction(raw: bytes | None) -> RecordedPrediction | None:
    """The prediction in ``raw`` with its source position; None if it has none (scored over HTTP, or written before
    predictions named their record's position). Raises ValueError if ``raw`` is not a prediction document."""
    try:
        data = orjson.loads(raw or b"")
        if "partition" not in data:
            return None
        score = data["score"] if "score" in data else data["scores"]
        return RecordedPrediction(id=str(data["id"]), partition=int(data["partition"]), offset=int(data["offset"]),
                                  version=int(data["version"]), fingerprint=str(data["fingerprint"]), score=score,
                                  label=data["label"])  # fmt: skip
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not a prediction document: {(raw or b'')[:200]!r}") from exc


# --- model updates --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModelUpdate:
    """A production change: every worker then follows the registry's production alias."""

    model: str
    version: int
    fingerprint: str
    set_at: str  # ISO-8601 UTC

    @classmethod
    def now(cls, model: str, version: int, fingerprint: str) -> ModelUpdate:
        return cls(model, version, fingerprint, datetime.now(UTC).isoformat())


def encode_model_update(update: ModelUpdate) -> bytes:
    return orjson.dumps({"model": update.model, "version": update.version, "fingerprint": update.fingerprint,
                         "set_at": update.set_at})  # fmt: skip


def decode_model_update(raw: bytes | None) -> ModelUpdate | None:
    """The update in ``raw``; None (and a warning) for a malformed one."""
    try:
        data = orjson.loads(raw or b"")
        version = data["version"]
        if isinstance(version, bool) or not isinstance(data["model"], str):
            raise TypeError("model must be a string and version an integer")
        return ModelUpdate(model=data["model"], version=int(version), fingerprint=str(data.get("fingerprint", "")),
                           set_at=str(data.get("set_at", "")))  # fmt: skip
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        logger.warning("ignoring a malformed model update: %r", (raw or b"")[:200])
        return None


# --- model swaps ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModelSwap:
    """A worker put ``version`` in service: for each records-topic partition it held, the first offset that
    ``version`` scored there (``positions``). ``previous`` is None for the worker's first model."""

    model: str
    version: int
    fingerprint: str
    previous: int | None
    worker: str
    topic: str
    positions: dict[int, int]
    swapped_at: str  # ISO-8601 UTC


def encode_model_swap(swap: ModelSwap) -> bytes:
    return orjson.dumps({"model": swap.model, "version": swap.version, "fingerprint": swap.fingerprint,
                         "previous": swap.previous, "worker": swap.worker, "topic": swap.topic,
                         "positions": {str(p): o for p, o in sorted(swap.positions.items())},
                         "swapped_at": swap.swapped_at})  # fmt: skip


def decode_model_swap(raw: bytes | None) -> ModelSwap | None:
    """The swap in ``raw``; None (and a warning) for a malformed one."""
    try:
        data = orjson.loads(raw or b"")
        previous = data["previous"]
        return ModelSwap(model=str(data["model"]), version=int(data["version"]), fingerprint=str(data["fingerprint"]),
                         previous=None if previous is None else int(previous), worker=str(data["worker"]),
                         topic=str(data["topic"]), positions={int(p): int(o) for p, o in data["positions"].items()},
                         swapped_at=str(data["swapped_at"]))  # fmt: skip
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        logger.warning("ignoring a malformed model swap: %r", (raw or b"")[:200])
        return None


# --- dead letters ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Why a record was refused and where it came from (the headers of its dead letter)."""

    reason: str
    error: str
    topic: str
    partition: int
    offset: int


def dead_letter_headers(letter: DeadLetter) -> list[tuple[str, bytes]]:
    return [
        ("dl.reason", letter.reason.encode()),
        ("dl.error", letter.error.encode(errors="replace")[:DEAD_LETTER_ERROR_BYTES]),
        ("dl.topic", letter.topic.encode()),
        ("dl.partition", str(letter.partition).encode()),
        ("dl.offset", str(letter.offset).encode()),
    ]


def decode_dead_letter(headers: Iterable[tuple[str, bytes | None]]) -> DeadLetter:
    """The headers of a dead letter as read back; raises ValueError if one is missing."""
    found = {name: (value or b"").decode(errors="replace") for name, value in headers}
    try:
        return DeadLetter(reason=found["dl.reason"], error=found["dl.error"], topic=found["dl.topic"],
                          partition=int(found["dl.partition"]), offset=int(found["dl.offset"]))  # fmt: skip
    except (KeyError, ValueError) as exc:
        raise ValueError(f"not a dead letter's headers ({exc!r}); found {sorted(found)}") from exc
