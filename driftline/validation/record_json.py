"""Strict JSON for records: the slow paths of validation, which the common case never enters.

orjson silently keeps the last of repeated keys and refuses ``NaN``/``Infinity``/overflow as not JSON. The
validator parses with orjson; when a cheap byte count cannot prove every top-level key distinct
(:func:`keys_surely_unique`), or orjson refuses the input, :func:`lenient_parse` parses it again with the
standard library to tell a duplicate key or a non-finite number from truly malformed input.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from driftline.records import Reason
from driftline.validation.invalid import Invalid

_QUOTE_BLANK = re.compile(rb'"[ \t\n\r]')


class _PairsDict(dict[str, Any]):
    """A parsed object that remembers which keys it saw more than once (slow path only)."""

    duplicates: tuple[str, ...] = ()


def _pairs_hook(pairs: list[tuple[str, Any]]) -> _PairsDict:
    d = _PairsDict(pairs)
    if len(d) != len(pairs):
        seen: set[str] = set()
        repeated: dict[str, None] = {}
        for key, _ in pairs:
            if key in seen:
                repeated[key] = None
            seen.add(key)
        d.duplicates = tuple(repeated)
    return d


def keys_surely_unique(raw: bytes, obj: dict[str, Any], colons: int, time_field: str) -> bool:
    """True when byte counts prove that the top-level object has no repeated key (orjson kept them all).

    Every key is followed by its own colon, so ``colons`` bounds the number of keys from above; when that
    equals ``len(obj)`` (checked by the caller) nothing was dropped. Colons inside an ISO event time loosen
    the bound; without any escape in the input they are literal bytes and can be subtracted. Otherwise
    ``":`` pairs bound the keys too, as long as no quote is followed by a blank.
    """
    n_keys = len(obj)
    time_value = obj.get(time_field)
    if time_value.__class__ is str and colons - time_value.count(":") == n_keys and raw.find(b"\\") < 0:
        return True
    return raw.count(b'":') == n_keys and _QUOTE_BLANK.search(raw) is None


def _has_non_finite(value: Any) -> bool:
    if type(value) is float:
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_has_non_finite(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_non_finite(v) for v in value)
    return False


def lenient_parse(raw: bytes, orjson_error: Exception | None) -> Any:
    """Re-parse with the standard library: finds duplicate keys, accepts NaN/Infinity/overflow."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Invalid(
            Reason.MALFORMED_JSON, f"expected UTF-8 JSON, found an invalid byte at {exc.start}"
        ) from None
    constants: list[str] = []

    def constant(name: str) -> float:
        constants.append(name)
        return float(name)

    try:
        obj = json.loads(text, object_pairs_hook=_pairs_hook, parse_constant=constant)
    except (ValueError, RecursionError) as exc:
        raise Invalid(
            Reason.MALFORMED_JSON, f"expected JSON, found malformed input: {orjson_error or exc}"
        ) from None
    if type(obj) is _PairsDict:
        if obj.duplicates:
            raise Invalid(
                Reason.DUPLICATE_FIELD,
                f"expected distinct keys, found {list(obj.duplicates)} repeated",
                dict(obj),
            )
        obj = dict(obj)
    if orjson_error is not None and not constants and not _has_non_finite(obj):
        # The standard library accepts a few things orjson rightly refuses (e.g. lone surrogates).
        raise Invalid(Reason.MALFORMED_JSON, f"expected JSON, found malformed input: {orjson_error}")
    return obj
