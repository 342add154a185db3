"""The wire format of ``POST /v1/predict``, without I/O: a body → each record's own bytes, outcomes → a body.

A body is one record (a JSON object) or a JSON array of records. Each record keeps its own bytes, so that the
validator sees exactly what it sees on the records topic (a repeated key, a ``NaN`` literal, a too-large record
are rejected with the same reason codes). Predictions are the documents the workers write to Redis, passed
through as bytes; a rejected record is ``{"id", "reason", "error"}`` (reason: the dead-letter reason code).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import orjson

from driftline.records import Reason, Rejection

Outcome = bytes | Rejection  # a prediction document, or why the record was rejected
HTTP_TOPIC = "http"  # where a served record "came from", in the Incoming protocol the scoring step reads


@dataclass(frozen=True)
class HttpRecord:
    """One record of a request, shaped like a consumed message (``processors.scoring_step.Incoming``)."""

    value: bytes
    key: bytes | None = None
    topic: str = HTTP_TOPIC
    partition: int = -1
    offset: int = -1


class BodyError(Exception):
    """A body that is not one record nor an array of records: the whole request is refused."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


_WHITESPACE = " \t\n\r"


def split_body(body: bytes) -> tuple[bool, list[bytes]]:
    """(whether the body is an array, each record's bytes). One record's bytes are the body itself; an array's
    elements are cut out as they were written. An array that is not well-formed JSON raises ``BodyError``."""
    start = len(body) - len(body.lstrip(_WHITESPACE.encode()))
    if body[start : start + 1] != b"[":
        return False, [body]
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyError(Reason.MALFORMED_JSON, f"the body is not UTF-8: {exc}") from None
    decoder = json.JSONDecoder()
    records: list[bytes] = []
    i = _skip(text, start + 1)
    if text[i : i + 1] == "]":
        return True, _expect_end(text, i + 1, records)
    while True:
        try:
            _, end = decoder.raw_decode(text, i)
        except json.JSONDecodeError as exc:
            raise BodyError(Reason.MALFORMED_JSON, f"record {len(records)} of the array: {exc}") from None
        records.append(text[i:end].encode("utf-8"))
        i = _skip(text, end)
        separator = text[i : i + 1]
        if separator == "]":
            return True, _expect_end(text, i + 1, records)
        if separator != ",":
            found = repr(separator) if separator else "the end of the body"
            raise BodyError(Reason.MALFORMED_JSON, f"expected ',' or ']' after record {len(records) - 1} of the "
                            f"array (char {i}), found {found}")  # fmt: skip
        i = _skip(text, i + 1)


def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i] in _WHITESPACE:
        i += 1
    return i


def _expect_end(text: str, i: int, records: list[bytes]) -> list[bytes]:
    i = _skip(text, i)
    if i != len(text):
        raise BodyError(Reason.MALFORMED_JSON, f"expected the end of the body after the array (char {i}), found "
                        f"{text[i : i + 20]!r}")  # fmt: skip
    return records


def rejection_json(rejection: Rejection) -> bytes:
    return orjson.dumps({"id": rejection.record_id, "reason": rejection.reason.value, "error": rejection.error})


def list_body(outcomes: list[Outcome]) -> bytes:
    """``{"predictions": [...], "scored": n, "rejected": m}``, each record's outcome in its place."""
    parts = [o if isinstance(o, bytes) else rejection_json(o) for o in outcomes]
    rejected = sum(1 for o in outcomes if not isinstance(o, bytes))
    counts = f',"scored":{len(outcomes) - rejected},"rejected":{rejected}}}'.encode()
    return b'{"predictions":[' + b",".join(parts) + b"]" + counts


def status_of(rejection: Rejection) -> int:
    """A lone record's rejection: 400 if it is not JSON at all, else 422 (JSON that breaks the contract)."""
    return 400 if rejection.reason is Reason.MALFORMED_JSON else 422
