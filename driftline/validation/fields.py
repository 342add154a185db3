"""Judgements of single fields that the hot path leaves to the slow one: event times that are not epoch-ms
integers, and the reason a feature value failed its check."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from driftline.records import Reason
from driftline.validation.invalid import Invalid, non_finite, show

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


def iso_ms(name: str, value: str) -> int:
    """An ISO-8601 event time with a zone as epoch milliseconds, or Invalid."""
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise Invalid(
            Reason.WRONG_TYPE, f"{name!r}: expected epoch ms or ISO-8601 with a zone, found {show(value)}"
        ) from None
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise Invalid(Reason.WRONG_TYPE, f"{name!r}: expected ISO-8601 with a zone, found naive {value!r}")
    return (dt - _EPOCH) // _ONE_MS


def odd_event_time(obj: dict[str, Any], name: str, v: Any) -> int:
    """The event time from a value that is neither int nor str (an integral float), or Invalid."""
    if v is None:
        found = "null" if name in obj else "absent"
        raise Invalid(Reason.MISSING_FIELD, f"{name!r}: expected the event time, found {found}")
    if type(v) is not float:
        raise Invalid(
            Reason.WRONG_TYPE, f"{name!r}: expected epoch ms or ISO-8601 with a zone, found {show(v)}"
        )
    if not math.isfinite(v):
        raise Invalid(Reason.NON_FINITE, f"{name!r}: expected epoch milliseconds, found {non_finite(v)}")
    if not v.is_integer():
        raise Invalid(Reason.WRONG_TYPE, f"{name!r}: expected whole epoch milliseconds, found {v!r}")
    return int(v)


def numeric_error(obj: dict[str, Any], name: str, v: Any, lo: float, hi: float) -> Invalid:
    """Why a numeric value failed its check."""
    if v is None:
        return missing_field(obj, name)
    if type(v) not in (int, float):
        return Invalid(Reason.WRONG_TYPE, f"{name!r}: expected a number, found {show(v)}")
    try:
        x = float(v)
    except OverflowError:
        return Invalid(Reason.NON_FINITE, f"{name!r}: expected a finite number, found an overflowing one")
    if not math.isfinite(x):
        return Invalid(Reason.NON_FINITE, f"{name!r}: expected a finite number, found {non_finite(x)}")
    return Invalid(Reason.OUT_OF_RANGE, f"{name!r}: expected a value in [{lo:g}, {hi:g}], found {v!r}")


def missing_field(obj: dict[str, Any], name: str) -> Invalid:
    """A not-nullable field that is null or absent."""
    found = "null" if name in obj else "absent"
    return Invalid(Reason.MISSING_FIELD, f"{name!r}: expected a value (not nullable), found {found}")
