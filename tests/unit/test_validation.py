"""Validation of raw record bytes: each bad record gets exactly the right reason; good ones come out typed."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import orjson
import pytest

from driftline.contract import Contract, builtin_contract
from driftline.records import Reason, RecordBatch, Rejection, Row
from driftline.sources import AgrawalSource
from driftline.validation import Validator, validate, validate_batch

AGRAWAL = builtin_contract("agrawal")
STRICT = Contract.model_validate(
    {
        "name": "strict",
        "features": [
            {"name": "x", "kind": "numeric", "nullable": False, "min": 0, "max": 10},
            {"name": "c", "kind": "categorical", "nullable": False},
        ],
    }
)
GOOD: dict[str, Any] = {
    "id": "r-1",
    "event_time": 1_704_067_200_000,
    "salary": 50_000.5,
    "commission": 0.0,
    "age": 42,
    "elevel": "2",
    "car": "7",
    "zipcode": "3",
    "hvalue": 250_000.0,
    "hyears": 5,
    "loan": 100_000.0,
}


PRETTY = json.dumps(GOOD, indent=2).encode()


def record(**changes: Any) -> bytes:
    """A good Agrawal record with some fields changed; a value of ... removes the field."""
    body = {k: v for k, v in {**GOOD, **changes}.items() if v is not ...}
    return orjson.dumps(body)


def with_literal(field: str, literal: str) -> bytes:
    """A record whose ``field`` holds raw JSON text (e.g. NaN), which orjson cannot write."""
    body = {**GOOD, field: "@@"}
    return orjson.dumps(body).replace(b'"@@"', literal.encode())


def strict(**changes: Any) -> bytes:
    body = {"id": "s-1", "event_time": 1_704_067_200_000, "x": 1.0, "c": "a", **changes}
    return orjson.dumps({k: v for k, v in body.items() if v is not ...})


BAD: list[tuple[str, bytes, Reason, Contract]] = [
    ("truncated", b'{"id": "a", ', Reason.MALFORMED_JSON, AGRAWAL),
    ("empty", b"", Reason.MALFORMED_JSON, AGRAWAL),
    ("not json", b"hello", Reason.MALFORMED_JSON, AGRAWAL),
    ("trailing garbage", record() + b" x", Reason.MALFORMED_JSON, AGRAWAL),
    ("byte order mark", b"\xef\xbb\xbf" + record(), Reason.MALFORMED_JSON, AGRAWAL),
    ("invalid utf-8", record(id="@@").replace(b"@@", b"\xff\xfe"), Reason.MALFORMED_JSON, AGRAWAL),
    ("lone surrogate", record(id="@@").replace(b"@@", b"\\ud800"), Reason.MALFORMED_JSON, AGRAWAL),
    ("array", b"[1, 2, 3]", Reason.NOT_AN_OBJECT, AGRAWAL),
    ("string", b'"hello"', Reason.NOT_AN_OBJECT, AGRAWAL),
    ("number", b"42", Reason.NOT_AN_OBJECT, AGRAWAL),
    ("null", b"null", Reason.NOT_AN_OBJECT, AGRAWAL),
    ("id absent", record(id=...), Reason.MISSING_ID, AGRAWAL),
    ("id of 257 bytes", record(id="x" * 257), Reason.ID_TOO_LONG, AGRAWAL),
    ("id of 20,000 bytes", record(id="x" * 20_000), Reason.ID_TOO_LONG, AGRAWAL),
    ("id of 86 three-byte characters", record(id="€" * 86), Reason.ID_TOO_LONG, AGRAWAL),
    ("id null", record(id=None), Reason.MISSING_ID, AGRAWAL),
    ("id empty", record(id=""), Reason.MISSING_ID, AGRAWAL),
    ("id boolean", record(id=True), Reason.MISSING_ID, AGRAWAL),
    ("id float", record(id=1.5), Reason.MISSING_ID, AGRAWAL),
    ("id object", record(id={"a": 1}), Reason.MISSING_ID, AGRAWAL),
    ("feature absent", strict(x=...), Reason.MISSING_FIELD, STRICT),
    ("feature null", strict(x=None), Reason.MISSING_FIELD, STRICT),
    ("category null", strict(c=None), Reason.MISSING_FIELD, STRICT),
    ("event time absent", record(event_time=...), Reason.MISSING_FIELD, AGRAWAL),
    ("event time null", record(event_time=None), Reason.MISSING_FIELD, AGRAWAL),
    ("string for number", record(salary="50000"), Reason.WRONG_TYPE, AGRAWAL),
    ("true for number", record(age=True), Reason.WRONG_TYPE, AGRAWAL),
    ("false for number", record(age=False), Reason.WRONG_TYPE, AGRAWAL),
    ("array for number", record(loan=[1]), Reason.WRONG_TYPE, AGRAWAL),
    ("object for number", record(loan={"v": 1}), Reason.WRONG_TYPE, AGRAWAL),
    ("float for category", record(car=7.0), Reason.WRONG_TYPE, AGRAWAL),
    ("boolean for category", record(car=True), Reason.WRONG_TYPE, AGRAWAL),
    ("array for category", record(car=["7"]), Reason.WRONG_TYPE, AGRAWAL),
    ("naive ISO time", record(event_time="2024-01-01T00:00:00"), Reason.WRONG_TYPE, AGRAWAL),
    ("date only", record(event_time="2024-01-01"), Reason.WRONG_TYPE, AGRAWAL),
    ("time not a date", record(event_time="yesterday"), Reason.WRONG_TYPE, AGRAWAL),
    ("fractional epoch", record(event_time=1.5e12 + 0.5), Reason.WRONG_TYPE, AGRAWAL),
    ("boolean time", record(event_time=True), Reason.WRONG_TYPE, AGRAWAL),
    ("NaN literal", with_literal("salary", "NaN"), Reason.NON_FINITE, AGRAWAL),
    ("Infinity literal", with_literal("age", "Infinity"), Reason.NON_FINITE, AGRAWAL),
    ("-Infinity literal", with_literal("loan", "-Infinity"), Reason.NON_FINITE, AGRAWAL),
    ("overflow", with_literal("hvalue", "1e999"), Reason.NON_FINITE, AGRAWAL),
    ("negative overflow", with_literal("hvalue", "-1e999"), Reason.NON_FINITE, AGRAWAL),
    ("NaN time", with_literal("event_time", "NaN"), Reason.NON_FINITE, AGRAWAL),
    ("NaN in an extra field", with_literal("note", "NaN"), Reason.NON_FINITE, AGRAWAL),
    ("below min", record(salary=-1.0), Reason.OUT_OF_RANGE, AGRAWAL),
    ("above max", record(age=151), Reason.OUT_OF_RANGE, AGRAWAL),
    ("strict above max", strict(x=10.5), Reason.OUT_OF_RANGE, STRICT),
    ("time before 1970", record(event_time=-5), Reason.OUT_OF_RANGE, AGRAWAL),
    ("time in microseconds", record(event_time=1_704_067_200_000_000_000), Reason.OUT_OF_RANGE, AGRAWAL),
    ("oversized", record(pad="x" * 70_000), Reason.TOO_LARGE, AGRAWAL),
    ("oversized garbage", b"\xff" * 70_000, Reason.TOO_LARGE, AGRAWAL),
    ("duplicate feature", record()[:-1] + b',"salary":1.0}', Reason.DUPLICATE_FIELD, AGRAWAL),
    ("duplicate id", record()[:-1] + b',"id":"other"}', Reason.DUPLICATE_FIELD, AGRAWAL),
    ("duplicate extra", record(a=1)[:-1] + b',"a":2}', Reason.DUPLICATE_FIELD, AGRAWAL),
    (
        "duplicate with ISO time",
        record(event_time="2024-01-01T00:00:00+00:00")[:-1] + b',"car":"8"}',
        Reason.DUPLICATE_FIELD,
        AGRAWAL,
    ),
    (
        "duplicate hidden by escaped colons",
        orjson.dumps({**GOOD, "event_time": "2024-01-01T00@00@00+00@00", "note": "a:b:c"})
        .replace(b"@", b"\\u003a")[:-1] + b',"age":3}',
        Reason.DUPLICATE_FIELD,
        AGRAWAL,
    ),
    ("duplicate, spaced", b'{"id" : "a", "id" : "b"}', Reason.DUPLICATE_FIELD, AGRAWAL),
    ("duplicate, pretty", PRETTY[:-2] + b',\n  "age": 3\n}', Reason.DUPLICATE_FIELD, AGRAWAL),
]  # fmt: skip


@pytest.mark.parametrize(("raw", "reason", "contract"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_each_bad_record_gets_its_reason(raw: bytes, reason: Reason, contract: Contract) -> None:
    out = validate(raw, contract)
    assert isinstance(out, Rejection), out
    assert out.reason is reason, out.error
    assert out.raw == raw
    assert out.error and "expected" in out.error and "found" in out.error
    if out.record_id is not None:
        assert repr(out.record_id) in out.error


def test_batch_agrees_with_single_validation_and_keeps_positions() -> None:
    """Bad records interleaved with good ones: same reasons as one by one, right indices, rows in order."""
    goods = [record(id=f"g-{i}", age=20 + i) for i in range(len(BAD))]
    raws = [raw for pair in zip(goods, (c[1] for c in BAD if c[3] is AGRAWAL), strict=False) for raw in pair]
    batch, rejections = validate_batch(raws, AGRAWAL)
    singles = [validate(raw, AGRAWAL) for raw in raws]
    assert [r.index for r in rejections] == [i for i, s in enumerate(singles) if isinstance(s, Rejection)]
    assert [(r.reason, r.error, r.raw) for r in rejections] == [
        (s.reason, s.error, s.raw) for s in singles if isinstance(s, Rejection)
    ]
    rows = [s for s in singles if isinstance(s, Row)]
    assert batch.ids == [r.id for r in rows]
    assert batch.index.tolist() == [i for i, s in enumerate(singles) if isinstance(s, Row)]
    assert batch.event_time_ms.tolist() == [r.event_time_ms for r in rows]
    for name in AGRAWAL.feature_names:
        assert batch.columns[name].tolist() == [r.features[name] for r in rows]


def test_good_record_is_typed() -> None:
    row = validate(record(id=123, elevel=4, extra={"nested": [1, 2]}, label=1), AGRAWAL)
    assert isinstance(row, Row)
    assert row.id == "123"
    assert row.event_time_ms == GOOD["event_time"]
    assert list(row.features) == list(AGRAWAL.feature_names)
    assert row.features["age"] == 42.0 and type(row.features["age"]) is float
    assert row.features["elevel"] == "4"  # JSON ints are accepted for categoricals, as their text
    assert "label" not in row.features and "extra" not in row.features


def test_ids_up_to_the_contracts_limit_in_bytes_are_accepted() -> None:
    assert isinstance(validate(record(id="x" * 256), AGRAWAL), Row)
    assert isinstance(validate(record(id="€" * 85), AGRAWAL), Row)  # 255 bytes
    short = AGRAWAL.model_copy(update={"max_id_bytes": 8})
    assert isinstance(validate(record(id="x" * 8), short), Row)
    rejected = validate(record(id="x" * 9), short)
    assert not isinstance(rejected, Row) and rejected.reason is Reason.ID_TOO_LONG
    assert rejected.error.startswith("'id': expected at most 8 bytes, found 9")


def test_batch_columns_have_record_batch_types() -> None:
    raws = [record(id=f"r-{i}", age=None, car=None if i % 2 else "21") for i in range(4)]
    batch, rejections = validate_batch(raws, AGRAWAL)
    assert rejections == []
    assert batch.event_time_ms.dtype == np.int64 and batch.index.dtype == np.int64
    assert batch.columns["salary"].dtype == np.float64
    assert np.isnan(batch.columns["age"]).all()  # null in a nullable feature → NaN, not a rejection
    assert batch.columns["car"].dtype == object
    assert batch.columns["car"].tolist() == ["21", None, "21", None]  # unseen category accepted


def test_empty_and_all_rejected_batches_are_typed() -> None:
    for raws in ([], [b"[]", b"{"]):
        batch, rejections = validate_batch(raws, AGRAWAL)
        assert isinstance(batch, RecordBatch) and len(batch) == 0
        assert len(rejections) == len(raws)
        assert batch.columns["salary"].dtype == np.float64 and batch.columns["car"].dtype == object


@pytest.mark.parametrize(
    ("value", "expected_ms"),
    [
        ("2024-01-01T00:00:00Z", 1_704_067_200_000),
        ("2024-01-01T00:00:00.123+00:00", 1_704_067_200_123),
        ("2024-01-01T02:00:00+02:00", 1_704_067_200_000),
        (1_704_067_200_000, 1_704_067_200_000),
        (1_704_067_200_000.0, 1_704_067_200_000),
    ],
)
def test_event_time_forms(value: Any, expected_ms: int) -> None:
    row = validate(record(event_time=value), AGRAWAL)
    assert isinstance(row, Row), row
    assert row.event_time_ms == expected_ms


def test_accepts_formatting_and_bytes_likes() -> None:
    pretty = json.dumps(GOOD, indent=2).encode()  # whitespace before values: not a duplicate
    spaced = b'{"id" : "a", "event_time" : 1704067200000, "salary" : 1}'
    for raw in (pretty, spaced, bytearray(record()), memoryview(record()), record().decode()):
        assert isinstance(validate(raw, AGRAWAL), Row)  # type: ignore[arg-type]


def test_a_missing_kafka_value_is_a_rejection_not_a_crash() -> None:
    _, rejections = validate_batch([None], AGRAWAL)  # type: ignore[list-item]
    assert [(r.reason, r.raw) for r in rejections] == [(Reason.MALFORMED_JSON, b"")]


def test_validate_objects_matches_the_stream() -> None:
    records = [r.record for r in AgrawalSource(seed=3, drift="missing:age:0.5@0").take(50)]
    records.append({**records[0], "salary": "oops"})
    v = Validator(AGRAWAL)
    from_objects, rej_objects = v.validate_objects(records)
    from_bytes, rej_bytes = v.validate_batch([orjson.dumps(r) for r in records])
    assert from_objects.ids == from_bytes.ids
    for name in AGRAWAL.feature_names:
        a, b = from_objects.columns[name], from_bytes.columns[name]
        assert a.dtype == b.dtype
        assert a.tolist() == b.tolist() or np.array_equal(a, b, equal_nan=True)
    assert [(r.reason, r.index) for r in rej_objects] == [(r.reason, r.index) for r in rej_bytes]
    assert [r.reason for r in rej_objects] == [Reason.WRONG_TYPE]


def test_validate_objects_sees_python_nan_and_huge_ints() -> None:
    v = Validator(AGRAWAL)
    objs = [{**GOOD, "salary": math.nan}, {**GOOD, "salary": 10**400}, {**GOOD, "car": math.inf}]
    _, rejections = v.validate_objects(objs)
    assert [r.reason for r in rejections] == [Reason.NON_FINITE, Reason.NON_FINITE, Reason.WRONG_TYPE]


def test_plain_records_take_the_fast_duplicate_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """The duplicate-aware re-parse must stay off the hot path for the records sources produce."""

    def slow_path(*_: object) -> None:
        raise AssertionError("the slow duplicate-aware parse ran on a plain record")

    monkeypatch.setattr("driftline.validation.validator.lenient_parse", slow_path)
    iso = AGRAWAL.model_copy(update={"event_time_format": "iso8601"})
    for contract in (AGRAWAL, iso):
        items = AgrawalSource(seed=1, contract=contract, drift="missing:age:0.5@0").take(200)
        batch, rejections = validate_batch([orjson.dumps(i.record) for i in items], contract)
        assert rejections == [] and len(batch) == 200
