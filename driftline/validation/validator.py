"""The :class:`Validator`: raw record bytes against one contract, to typed rows or rejections.

This is the processors' hot path, so a validator precomputes its field table once per contract and the common
case costs one ``orjson.loads`` plus one pass over the features; the slow paths (see the package docstring)
run only when needed.
"""

from __future__ import annotations

import json
import logging
import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import orjson

from driftline import images  # a module, not its names: driftline.images imports this package
from driftline.contract import Contract
from driftline.records import Reason, RecordBatch, Rejection, Row
from driftline.validation.columns import Kept, feature_columns
from driftline.validation.fields import iso_ms, missing_field, numeric_error, odd_event_time
from driftline.validation.invalid import Invalid, json_type, show
from driftline.validation.record_json import keys_surely_unique, lenient_parse

logger = logging.getLogger(__name__)

_MAX_FLOAT = sys.float_info.max
_NAN = math.nan
_MAX_EVENT_MS = 253_402_300_800_000  # 10000-01-01T00:00:00Z: anything later is a unit mistake


class Validator:
    """Checks records against one contract; build it once and reuse it for every batch.

    A batch is checked in two passes: per record, the envelope (parse, object, id, event time); then per
    feature column, vectorised. Rows a column pass cannot clear (wrong type, null, out of range, a NaN
    literal somewhere) are judged again one by one by the same code :meth:`validate` uses, which alone
    decides the reason, so both paths always agree.
    """

    __slots__ = ("_cat", "_et", "_id", "_img", "_max_bytes", "_max_id", "_names", "_num", "_numeric", "_order",
                 "contract")  # fmt: skip

    def __init__(self, contract: Contract) -> None:
        self.contract = contract
        self._id = contract.id_field
        self._et = contract.event_time_field
        self._max_bytes = contract.max_record_bytes
        self._max_id = contract.max_id_bytes
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
        self._img = tuple((f.name, f) for f in contract.features if f.is_image)
        self._order = tuple(f[0] for f in self._num) + tuple(f[0] for f in self._cat) + tuple(f[0] for f in self._img)

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
        kept = Kept()
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
        kept = Kept()
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
            raise Invalid(Reason.NOT_AN_OBJECT, f"expected a JSON object, found {json_type(obj)}")
        record_id = obj.get(self._id)
        if record_id.__class__ is int:
            record_id = str(record_id)
        elif record_id.__class__ is not str or not record_id:
            found = "absent" if self._id not in obj else show(record_id)
            raise Invalid(
                Reason.MISSING_ID, f"{self._id!r}: expected a non-empty string or integer, found {found}"
            )
        if len(record_id) * 4 > self._max_id and len(record_id.encode()) > self._max_id:  # 4: most bytes per char
            raise Invalid(
                Reason.ID_TOO_LONG,
                f"{self._id!r}: expected at most {self._max_id} bytes, found {len(record_id.encode())}",
            )
        v = obj.get(self._et)
        if v.__class__ is int:
            ms = v
        elif v.__class__ is str:
            ms = iso_ms(self._et, v)
        else:
            ms = odd_event_time(obj, self._et, v)
        if not 0 <= ms < _MAX_EVENT_MS:
            raise Invalid(
                Reason.OUT_OF_RANGE, f"{self._et!r}: expected epoch ms in years 1970..9999, found {ms}"
            )
        return record_id, ms

    def _values(self, obj: dict[str, Any], literal: bool) -> list[Any]:
        """Feature values in ``_order`` (numerics, categoricals, then images), or Invalid: the one judge."""
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
            raise numeric_error(obj, name, v, lo, hi)
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
                raise missing_field(obj, name)
            else:
                raise Invalid(
                    Reason.WRONG_TYPE, f"{name!r}: expected a category (string or integer), found {show(v)}"
                )
        for name, feature in self._img:
            v = get(name)
            if v is None:
                raise missing_field(obj, name)
            append(images.decode_image(v, feature))
        if literal:
            raise Invalid(
                Reason.NON_FINITE, "expected finite JSON numbers, found NaN/Infinity in another field"
            )
        return values

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

    def _finish(self, kept: Kept, rejections: list[Rejection]) -> tuple[RecordBatch, list[Rejection]]:
        """Check the kept records' features column by column; re-judge suspects one by one."""
        if not kept.objs:
            return RecordBatch.empty(self._names, self._numeric), rejections
        columns, suspects = feature_columns(kept.objs, self._num, self._cat, self._names, self._img)
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
