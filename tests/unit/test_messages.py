"""Every wire format round-trips through driftline/messages.py, and each parser has one set of rules."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from driftline.messages import (
    DeadLetter,
    LabelEvent,
    ModelSwap,
    ModelUpdate,
    Prediction,
    RecordedPrediction,
    dead_letter_headers,
    decode_dead_letter,
    decode_label_event,
    decode_model_swap,
    decode_model_update,
    decode_prediction,
    decode_recorded_prediction,
    encode_label_event,
    encode_model_swap,
    encode_model_update,
    encode_predictions,
    encode_record,
    prediction_key,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"id": "a-1", "label": 1, "event_time": 5}', LabelEvent("a-1", 1)),
        (b'{"id": 7, "label": "yes"}', LabelEvent("7", "yes")),
        (b'{"id": "a-1"}', None),
        (b'{"id": "a-1", "label": null}', None),
        (b'{"id": true, "label": 1}', None),
        (b'{"id": 1.5, "label": 1}', None),
        (b"[1]", None),
        (b"{", None),
        (None, None),  # a tombstone
    ],
)
def test_decode_label_event(raw: bytes | None, expected: LabelEvent | None) -> None:
    assert decode_label_event(raw) == expected


def test_label_event_round_trips() -> None:
    raw = encode_label_event("r-9", "yes", 1_700_000_000_000)
    assert orjson.loads(raw) == {"id": "r-9", "label": "yes", "event_time": 1_700_000_000_000}
    assert decode_label_event(raw) == LabelEvent("r-9", "yes")


def test_record_is_the_flat_json_object() -> None:
    assert orjson.loads(encode_record({"id": "a", "event_time": 3, "x": 1.5})) == {"id": "a", "event_time": 3, "x": 1.5}


@pytest.mark.parametrize("binary", [True, False])
def test_predictions_round_trip(binary: bool) -> None:
    scores = [0.25, 0.75] if binary else [[0.1, 0.9], [0.8, 0.2]]
    documents = encode_predictions(["a", "b"], model="m", version=3, fingerprint="f" * 64, scored_at=0.5,
                                   binary=binary, scores=scores, labels=[0, 1], event_times=[10, 20])  # fmt: skip
    first = orjson.loads(documents[0])
    assert first == {"id": "a", "model": "m", "version": 3, "fingerprint": "f" * 64,
                     "scored_at": "1970-01-01T00:00:00.500+00:00", "score" if binary else "scores": scores[0],
                     "label": 0, "event_time": 10}  # fmt: skip
    assert [decode_prediction(d) for d in documents] == [Prediction("a", 3, 0, 10), Prediction("b", 3, 1, 20)]


@pytest.mark.parametrize("binary", [True, False])
def test_a_prediction_names_its_records_position_for_replay(binary: bool) -> None:
    scores = [0.25, 0.75, 0.5] if binary else [[0.1, 0.9], [0.8, 0.2], [0.5, 0.5]]
    documents = encode_predictions(["a", "b", "c"], model="m", version=3, fingerprint="f" * 64, scored_at=0.5,
                                   binary=binary, scores=scores, labels=[0, 1, 0], event_times=[10, 20, 30],
                                   partitions=[2, 5, -1], offsets=[41, 0, -1])  # fmt: skip
    first = orjson.loads(documents[0])
    assert (first["partition"], first["offset"]) == (2, 41)
    assert decode_recorded_prediction(documents[1]) == RecordedPrediction("b", 5, 0, 3, "f" * 64, scores[1], 1)
    # a record that did not come from Kafka (partition -1: HTTP) names no position, and replay skips it
    assert "partition" not in orjson.loads(documents[2]) and decode_recorded_prediction(documents[2]) is None
    assert decode_prediction(documents[0]) == Prediction("a", 3, 0, 10)  # the label join reads it as before


def test_a_broken_recorded_prediction_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="not a prediction document"):
        decode_recorded_prediction(b'{"id": "a", "partition": 1}')
    with pytest.raises(ValueError, match="not a prediction document"):
        decode_recorded_prediction(b"not json")


def test_model_swap_round_trips() -> None:
    swap = ModelSwap("driftline", 5, "ab" * 32, 4, "host.0", "driftline.records", {3: 120, 0: 7}, "2026-12-06T08:00Z")
    raw = encode_model_swap(swap)
    assert list(orjson.loads(raw)["positions"]) == ["0", "3"]
    assert decode_model_swap(raw) == swap
    first = ModelSwap("driftline", 1, "cd" * 32, None, "host.1", "driftline.records", {}, "2026-12-06T08:00Z")
    assert decode_model_swap(encode_model_swap(first)) == first


@pytest.mark.parametrize("raw", [b"not json", b"[]", b'{"model": "m", "version": 1}', None,
                                 b'{"model": "m", "version": 1, "fingerprint": "f", "previous": null, "worker": "w",'
                                 b' "topic": "t", "positions": [1], "swapped_at": "t"}'])  # fmt: skip
def test_a_malformed_model_swap_is_ignored(raw: bytes | None) -> None:
    assert decode_model_swap(raw) is None


def test_a_broken_prediction_document_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="not a prediction document"):
        decode_prediction(b'{"id": "a"}')


def test_prediction_key() -> None:
    assert prediction_key("driftline:", "a-1") == "driftline:pred:a-1"


def test_model_update_round_trips() -> None:
    update = ModelUpdate("driftline", 4, "ab" * 32, datetime(2026, 12, 2, tzinfo=UTC).isoformat())
    assert decode_model_update(encode_model_update(update)) == update
    assert ModelUpdate.now("m", 1, "f").set_at.endswith("+00:00")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"model": "driftline", "version": 3, "fingerprint": "ab", "set_at": "t"}', ("driftline", 3)),
        (b'{"model": "other", "version": 3}', ("other", 3)),
        (b'{"model": "driftline"}', None),
        (b'{"model": "driftline", "version": "x"}', None),
        (b'{"model": "driftline", "version": true}', None),
        (b"[1, 2]", None),
        (b"not json", None),
        (None, None),
    ],
)
def test_decode_model_update(raw: bytes | None, expected: tuple[str, int] | None) -> None:
    update = decode_model_update(raw)
    assert (None if update is None else (update.model, update.version)) == expected


def test_dead_letter_headers_round_trip_and_cut_long_errors() -> None:
    letter = DeadLetter("wrong_type", "é" * 2000, "driftline.records", 2, 41)
    headers = dead_letter_headers(letter)
    assert [name for name, _ in headers] == ["dl.reason", "dl.error", "dl.topic", "dl.partition", "dl.offset"]
    assert len(dict(headers)["dl.error"]) == 1000
    back = decode_dead_letter(headers)
    assert (back.reason, back.topic, back.partition, back.offset) == ("wrong_type", "driftline.records", 2, 41)
    assert back.error.startswith("é" * 499)
    with pytest.raises(ValueError, match=r"dl\.reason"):
        decode_dead_letter(headers[1:])
