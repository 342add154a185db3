"""Validate raw record bytes against a contract (DESIGN section 2): a typed row, or a rejection.

This is the processors' hot path, so a :class:`Validator` precomputes its field table once per contract and
the common case costs one ``orjson.loads`` plus one pass over the features. Slow paths run only when needed
(their parsing is in driftline/record_json.py):

- duplicate keys: orjson silently keeps the last value, so a record is re-parsed with a duplicate-aware
  parser only when a cheap byte count cannot prove every top-level key distinct (:func:`keys_surely_unique`);
- ``NaN``/``Infinity`` literals and overflow (``1e999``) are not JSON, so orjson rejects them; a lenient
  re-parse tells them from truly malformed input, so the reason is ``non_finite``, not ``malformed_json``.

Decisions others rely on: unknown extra fields (a label included) are ignored; booleans are never numbers;
a JSON integer is accepted for a categorical and becomes ``str(int)`` (floats, booleans, arrays and objects
are ``wrong_type``); the event time is accepted as epoch milliseconds (an int or an integral float) or as an
ISO-8601 string with a zone, whatever the contract's ``event_time_format`` (which says what sources emit).
"""

from __future__ import annotations

import json
import logging
import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson

from driftline.contract import Contract
from driftline.record_json import Invalid, keys_surely_unique, lenient_parse
from driftline.records import Reason, RecordBatch, Rejection, Row

logger = logging.getLogger(__name__)

_MAX_FLOAT = sys.float_info.max
_NAN = math.nan
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
_MAX_EVENT_MS = 253_402_300_800_000  # 10000-01-01T00:00:00Z: anything later is a unit mistake
_NUMBER_TYPES = frozenset({float, int, type(None)})
_STR = frozenset({str})
_STR_NONE = frozenset({str, type(None)})


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return {int: "number", float: "number", str: "string", list: "array"}.get(type(value), "object")


def _show(value: Any) -> str:
    """A JSON-flavoured description of a found value, short enough for a log line."""
    if value is None:
        return "null"
    text = ("true" if value else "false") if isinstance(value, bool) else repr(value)
    return f"{_json_type(value)} {text if len(text) <= 40 else text[:37] + '...'}"


def _iso_ms(name: str, value: str) -> int:
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise Invalid(
            Reason.WRONG_TYPE, f"{name!r}: expected epoch ms or ISO-8601 with a zone, found {_show(value)}"
        ) from None
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise Invalid(Reason.WRONG_TYPE, f"{name!r}: expected ISO-8601 with a zone, found naive {value!r}")
    return (dt - _EPOCH) // _ONE_MS


def _non_finite(x: float) -> str:
    return "NaN" if x != x else ("Infinity" if x > 0 else "-Infinity")


class Validator:
    """Checks records against one contract; build it once and reuse it for every batch.

    A batch is checked in two passes: per record, the envelope (parse, object, id, event time); then per
    feature column, vectorised. Rows a column pass cannot clear (wrong type, null, out of range, a NaN
    literal somewhere) are judged again one by one by the same code :meth:`validate` uses, which alone
    decides the reason, so both paths always agree.
    """

    __slots__ = ("_cat", "_et", "_id", "_max_bytes", "_names", "_num", "_numeric", "_order", "contract")

    def __init__(self, contract: Contract) -> None:
        self.contract = contract
        self._id = contract.id_field
        self._et = contract.event_time_field
        self._max_bytes = contract.max_record_bytes
        self._names = contract.feature_names
        self._numeric = {f.name for f in contract.numeric}
        # Finite stand-ins for absent bounds make one chained comparison reject NaN and infinities too.
        self._num = tuple(
            (
                f.name,
                f.nullable,
                -_MAX_FLOAT if f.min is None else float(f.min),
                _MAX_FLOAT if f.max is None else float(f.max),
            )
            for f in contract.numeric
        )
        self._cat = tuple((f.name, f.nullable) for f in contract.categorical)
        self._order = tuple(f[0] for f in self._num) + tuple(f[0] for f in self._cat)

    # -- public ---------------------------------------------------------------------------------------------

    def validate(self, raw: bytes) -> Row | Rejection:
        """One record's bytes → a typed Row, or a Rejection carrying the bytes, reason and message."""
        raw = raw if raw.__class__ is bytes else _as_bytes(raw)
        obj: Any = None
        try:
            obj, literal = self._parse(raw)
            record_id, event_ms = self._head(obj)
            values = self._values(obj, literal)
        except Invalid as inv:
            return self._reject(raw, obj, inv, 0)
        by_name = dict(zip(self._order, values, strict=True))
        return Row(id=record_id, event_time_ms=event_ms, features={n: by_name[n] for n in self._names})

    def validate_batch(self, raws: Sequence[bytes | None]) -> tuple[RecordBatch, list[Rejection]]:
        """A micro-batch of bytes → valid rows by column (``index`` = input position), and the rejections.

        A missing value (a Kafka tombstone, None) is rejected as malformed.
        """
        kept = _Kept()
        rejections: list[Rejection] = []
        parse, head, add = self._parse, self._head, kept.add
        for i, raw in enumerate(raws):
            raw = raw if raw.__class__ is bytes else _as_bytes(raw)
            obj: Any = None
            try:
                obj, literal = parse(raw)
                record_id, event_ms = head(obj)
            except Invalid as inv:
                rejections.append(self._reject(raw, obj, inv, i))
                continue
            add(i, raw, obj, record_id, event_ms, literal)
        return self._finish(kept, rejections)

    def validate_objects(self, objs: Iterable[Mapping[str, Any]]) -> tuple[RecordBatch, list[Rejection]]:
        """Parsed records (e.g. from a Source; JSON-native values) → the batch their JSON would give."""
        kept = _Kept()
        rejections: list[Rejection] = []
        for i, obj in enumerate(objs):
            record = dict(obj) if isinstance(obj, Mapping) and type(obj) is not dict else obj
            try:
                record_id, event_ms = self._head(record)
            except Invalid as inv:
                rejections.append(self._reject(_dump(record), record, inv, i))
                continue
            kept.add(i, None, record, record_id, event_ms, False)
        return self._finish(kept, rejections)

    # -- per record -----------------------------------------------------------------------------------------

    def _parse(self, raw: bytes) -> tuple[Any, bool]:
        """Bytes → (parsed value, whether a NaN/Infinity/overflow literal was in it)."""
        if len(raw) > self._max_bytes:
            raise Invalid(
                Reason.TOO_LARGE,
                f"expected at most {self._max_bytes} bytes, found a record of {len(raw)} bytes",
            )
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            return lenient_parse(raw, exc), True  # returns only if the input holds NaN/Infinity/overflow
        if obj.__class__ is dict:
            colons = raw.count(b":")
            if colons != len(obj) and not keys_surely_unique(raw, obj, colons, self._et):
                obj = lenient_parse(raw, None)
        return obj, False

    def _head(self, obj: Any) -> tuple[str, int]:
        """The record's id and event time (ms), or Invalid."""
        if obj.__class__ is not dict:
            raise Invalid(Reason.NOT_AN_OBJECT, f"expected a JSON object, found {_json_type(obj)}")
        record_id = obj.get(self._id)
        if record_id.__class__ is int:
            record_id = str(record_id)
        elif record_id.__class__ is not str or not record_id:
            found = "absent" if self._id not in obj else _show(record_id)
            raise Invalid(
                Reason.MISSING_ID, f"{self._id!r}: expected a non-empty string or integer, found {found}"
            )
        v = obj.get(self._et)
        if v.__class__ is int:
            ms = v
        elif v.__class__ is str:
            ms = _iso_ms(self._et, v)
        else:
            ms = self._odd_event_time(obj, v)
        if not 0 <= ms < _MAX_EVENT_MS:
            raise Invalid(
                Reason.OUT_OF_RANGE, f"{self._et!r}: expected epoch ms in years 1970..9999, found {ms}"
            )
        return record_id, ms

    def _odd_event_time(self, obj: dict[str, Any], v: Any) -> int:
        name = self._et
        if v is None:
            found = "null" if name in obj else "absent"
            raise Invalid(Reason.MISSING_FIELD, f"{name!r}: expected the event time, found {found}")
        if type(v) is not float:
            raise Invalid(
                Reason.WRONG_TYPE, f"{name!r}: expected epoch ms or ISO-8601 with a zone, found {_show(v)}"
            )
        if not math.isfinite(v):
            raise Invalid(
                Reason.NON_FINITE, f"{name!r}: expected epoch milliseconds, found {_non_finite(v)}"
            )
        if not v.is_integer():
            raise Invalid(Reason.WRONG_TYPE, f"{name!r}: expected whole epoch milliseconds, found {v!r}")
        return int(v)

    def _values(self, obj: dict[str, Any], literal: bool) -> list[Any]:
        """Feature values in ``_order`` (numerics, then categoricals), or Invalid: the one judge."""
        values: list[Any] = []
        append = values.append
        get = obj.get
        for name, nullable, lo, hi in self._num:
            v: Any = get(name)
            c = v.__class__
            if c is float or c is int:  # never bool: its class is bool
                if lo <= v <= hi:  # False for NaN and infinities too
                    append(float(v))
                    continue
            elif v is None and nullable:
                append(_NAN)
                continue
            raise self._numeric_error(obj, name, v, lo, hi)
        for name, nullable in self._cat:
            v = get(name)
            c = v.__class__
            if c is str:
                append(v)
            elif c is int:
                append(str(v))
            elif v is None and nullable:
                append(None)
            elif v is None:
                raise self._missing(obj, name)
            else:
                raise Invalid(
                    Reason.WRONG_TYPE, f"{name!r}: expected a category (string or integer), found {_show(v)}"
                )
        if literal:
            raise Invalid(
                Reason.NON_FINITE, "expected finite JSON numbers, found NaN/Infinity in another field"
            )
        return values

    def _numeric_error(self, obj: dict[str, Any], name: str, v: Any, lo: float, hi: float) -> Invalid:
        if v is None:
            return self._missing(obj, name)
        if type(v) not in (int, float):
            return Invalid(Reason.WRONG_TYPE, f"{name!r}: expected a number, found {_show(v)}")
        try:
            x = float(v)
        except OverflowError:
            return Invalid(
                Reason.NON_FINITE, f"{name!r}: expected a finite number, found an overflowing one"
            )
        if not math.isfinite(x):
            return Invalid(Reason.NON_FINITE, f"{name!r}: expected a finite number, found {_non_finite(x)}")
        return Invalid(Reason.OUT_OF_RANGE, f"{name!r}: expected a value in [{lo:g}, {hi:g}], found {v!r}")

    def _missing(self, obj: dict[str, Any], name: str) -> Invalid:
        found = "null" if name in obj else "absent"
        return Invalid(Reason.MISSING_FIELD, f"{name!r}: expected a value (not nullable), found {found}")

    def _reject(self, raw: bytes, obj: Any, inv: Invalid, index: int) -> Rejection:
        record_id = None
        if obj is None:
            obj = inv.record
        if obj.__class__ is dict:
            value = obj.get(self._id)
            if value.__class__ is str and value:
                record_id = value
            elif value.__class__ is int:
                record_id = str(value)
        message = inv.message if record_id is None else f"{inv.message} (record id {record_id!r})"
        return Rejection(raw=raw, reason=inv.reason, error=message, record_id=record_id, index=index)

    # -- per column -----------------------------------------------------------------------------------------

    def _finish(self, kept: _Kept, rejections: list[Rejection]) -> tuple[RecordBatch, list[Rejection]]:
        """Check the kept records' features column by column; re-judge suspects one by one."""
        if not kept.objs:
            return RecordBatch.empty(self._names, self._numeric), rejections
        columns, suspects = self._columns(kept.objs)
        suspects.update(kept.literal)
        keep = None
        for pos in sorted(suspects):
            obj = kept.objs[pos]
            try:
                self._values(obj, pos in kept.literal)
            except Invalid as inv:
                if keep is None:
                    keep = np.ones(len(kept.objs), dtype=bool)
                keep[pos] = False
                raw = kept.raws[pos]
                rejections.append(self._reject(_dump(obj) if raw is None else raw, obj, inv, kept.index[pos]))
        ids, times, index = (
            kept.ids,
            np.array(kept.times, dtype=np.int64),
            np.array(kept.index, dtype=np.int64),
        )
        if keep is not None:
            columns = {name: column[keep] for name, column in columns.items()}
            ids = [ids[j] for j in np.flatnonzero(keep).tolist()]
            times, index = times[keep], index[keep]
            rejections.sort(key=lambda r: r.index)
        batch = RecordBatch(ids=ids, event_time_ms=times, columns=columns, index=index)
        return batch, rejections

    def _columns(self, objs: list[dict[str, Any]]) -> tuple[dict[str, np.ndarray], set[int]]:
        """Typed feature columns (contract order) and the positions whose value may be invalid."""
        suspects: set[int] = set()
        by_name: dict[str, np.ndarray] = {}
        for name, nullable, lo, hi in self._num:
            col: list[Any] = [o.get(name) for o in objs]
            a = None
            if set(map(type, col)) <= _NUMBER_TYPES:
                with suppress(OverflowError):
                    a = np.array(col, dtype=np.float64)  # None → NaN
            if a is not None:
                bad = ~((a >= lo) & (a <= hi))
                if bad.any():
                    suspects.update(
                        j for j in np.flatnonzero(bad).tolist() if not (nullable and col[j] is None)
                    )
            else:
                a = np.full(len(col), _NAN)
                for j, v in enumerate(col):
                    c = v.__class__
                    if (c is float or c is int) and lo <= v <= hi:
                        a[j] = v
                    elif not (nullable and v is None):
                        suspects.add(j)
            by_name[name] = a
        for name, nullable in self._cat:
            col = [o.get(name) for o in objs]
            types = set(map(type, col))
            if types == _STR or (nullable and types <= _STR_NONE):
                by_name[name] = np.array(col, dtype=object)
                continue
            out = np.empty(len(col), dtype=object)  # filled with None
            for j, v in enumerate(col):
                c = v.__class__
                if c is str:
                    out[j] = v
                elif c is int:
                    out[j] = str(v)
                elif not (nullable and v is None):
                    suspects.add(j)
            by_name[name] = out
        return {name: by_name[name] for name in self._names}, suspects


class _Kept:
    """Records of a batch that passed the envelope checks, in parallel lists."""

    __slots__ = ("ids", "index", "literal", "objs", "raws", "times")

    def __init__(self) -> None:
        self.index: list[int] = []
        self.raws: list[bytes | None] = []
        self.objs: list[dict[str, Any]] = []
        self.ids: list[str] = []
        self.times: list[int] = []
        self.literal: set[int] = set()  # positions whose JSON held NaN/Infinity/overflow

    def add(
        self, i: int, raw: bytes | None, obj: dict[str, Any], record_id: str, ms: int, literal: bool
    ) -> None:
        if literal:
            self.literal.add(len(self.objs))
        self.index.append(i)
        self.raws.append(raw)
        self.objs.append(obj)
        self.ids.append(record_id)
        self.times.append(ms)


def _as_bytes(raw: Any) -> bytes:
    """Bytes-likes as bytes; a missing Kafka value (None) as empty input, which is then malformed JSON."""
    if raw is None:
        return b""
    if isinstance(raw, str):
        return raw.encode("utf-8", "surrogatepass")
    return bytes(raw)


def _dump(obj: Any) -> bytes:
    """Bytes for the dead letter of a record that arrived already parsed."""
    try:
        return orjson.dumps(obj, default=str, option=orjson.OPT_SERIALIZE_NUMPY)
    except TypeError:  # e.g. an integer beyond 64 bits
        return json.dumps(obj, default=str).encode()


def validate(raw: bytes, contract: Contract) -> Row | Rejection:
    """Validate one record. For a stream, build one :class:`Validator` and reuse it."""
    return Validator(contract).validate(raw)


def validate_batch(raws: Sequence[bytes], contract: Contract) -> tuple[RecordBatch, list[Rejection]]:
    """Validate a micro-batch. For a stream, build one :class:`Validator` and reuse it."""
    return Validator(contract).validate_batch(raws)
