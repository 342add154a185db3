"""A failed check: the reason code and a message saying what was expected and what was found."""

from __future__ import annotations

from typing import Any

from driftline.records import Reason


class Invalid(Exception):
    """Raised inside the validator only; becomes a Rejection with this reason and message."""

    def __init__(self, reason: Reason, message: str, record: Any = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.record = record  # the parsed record when the caller has none yet (duplicate keys)


def json_type(value: Any) -> str:
    """The JSON type name of a parsed value, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return {int: "number", float: "number", str: "string", list: "array"}.get(type(value), "object")


def show(value: Any) -> str:
    """A JSON-flavoured description of a found value, short enough for a log line."""
    if value is None:
        return "null"
    text = ("true" if value else "false") if isinstance(value, bool) else repr(value)
    return f"{json_type(value)} {text if len(text) <= 40 else text[:37] + '...'}"


def non_finite(x: float) -> str:
    """The JSON-ish literal of a non-finite float, for messages."""
    return "NaN" if x != x else ("Infinity" if x > 0 else "-Infinity")
