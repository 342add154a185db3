"""The /v1/predict wire format: a body is one record or an array whose records keep their own bytes (so the
validator's byte-level checks still apply), a broken array is refused whole, and outcomes keep their places."""

from __future__ import annotations

import orjson
import pytest

from driftline.records import Reason, Rejection
from processors.serve_request import BodyError, list_body, split_body, status_of


def test_one_record_is_the_body_itself() -> None:
    body = b' {"id": "a", "x": NaN, "x": 1} '
    assert split_body(body) == (False, [body])


def test_an_array_keeps_each_record_as_written() -> None:
    body = b' [ {"id": "a", "x": NaN} ,{"id":"b","x":1,"x":2},\n5, "s", [1] , {"n": "\xc3\xa9"}] \n'
    many, records = split_body(body)
    assert many
    assert records == [b'{"id": "a", "x": NaN}', b'{"id":"b","x":1,"x":2}', b"5", b'"s"', b"[1]",
                       b'{"n": "\xc3\xa9"}']  # fmt: skip


def test_an_empty_array_is_no_records() -> None:
    assert split_body(b"[]") == (True, []) and split_body(b"[ \n ]") == (True, [])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[", "record 0 of the array"),
        (b'[{"id": 1}', "found the end of the body"),
        (b'[{"id": 1} {"id": 2}]', "expected ',' or ']' after record 0"),
        (b'[{"id": 1},]', "record 1 of the array"),
        (b'[{"id": 1}] x', "expected the end of the body after the array"),
        (b'[{"id": "\xff"}]', "not UTF-8"),
    ],
)
def test_a_broken_array_is_refused_whole(body: bytes, message: str) -> None:
    with pytest.raises(BodyError, match=message) as caught:
        split_body(body)
    assert caught.value.reason is Reason.MALFORMED_JSON


def test_outcomes_stay_in_place_with_their_counts() -> None:
    rejection = Rejection(b"{}", Reason.MISSING_ID, "no id", None, 1)
    body = orjson.loads(list_body([b'{"id":"a","score":0.5}', rejection, b'{"id":"c","score":0.1}']))
    assert body == {"predictions": [{"id": "a", "score": 0.5}, {"id": None, "reason": "missing_id", "error": "no id"},
                                    {"id": "c", "score": 0.1}], "scored": 2, "rejected": 1}  # fmt: skip
    assert orjson.loads(list_body([])) == {"predictions": [], "scored": 0, "rejected": 0}


def test_a_lone_record_not_json_is_400_and_one_breaking_the_contract_422() -> None:
    assert status_of(Rejection(b"{", Reason.MALFORMED_JSON, "")) == 400
    assert status_of(Rejection(b"{}", Reason.OUT_OF_RANGE, "")) == 422
    assert status_of(Rejection(b"{}", Reason.TOO_LARGE, "")) == 422
