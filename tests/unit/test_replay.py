"""Replay's pure half: a recorded prediction against its replay, the table, and the command's range arguments."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from driftline.messages import RecordedPrediction
from processors.cli import replay_bound
from processors.replay import _rescore
from processors.replay_check import ReplayReport, VersionTally, compare, record

FP = "ab" * 32


def _recorded(score: float | list[float], label: object = 1, fingerprint: str = FP) -> RecordedPrediction:
    return RecordedPrediction("r-1", 2, 40, 3, fingerprint, score, label)


@pytest.mark.parametrize(
    ("recorded", "score", "label", "expected"),
    [
        (_recorded(0.7341234683990479), 0.7341234683990479, 1, (None, True)),
        (_recorded(0.7341234683990479), 0.7341239, 1, (None, False)),  # within 1e-6: matched, not exact
        (_recorded([0.25, 0.75]), [0.25, 0.75], 1, (None, True)),
    ],
)
def test_matches(recorded: RecordedPrediction, score: object, label: object, expected: tuple[None, bool]) -> None:
    assert compare(recorded, score, label, FP) == expected


@pytest.mark.parametrize(
    ("recorded", "score", "label", "fingerprint", "why"),
    [
        (_recorded(0.5), 0.5000011, 1, FP, "difference 1.1e-06"),
        (_recorded(0.5), 0.5, 0, FP, "recorded label 1, replayed 0"),
        (_recorded([0.25, 0.75]), [0.25, 0.74], 1, FP, "difference 0.01"),
        (_recorded([0.25, 0.75]), 0.75, 1, FP, "recorded score [0.25, 0.75], replayed 0.75"),
        (_recorded(True), 1.0, 1, FP, "recorded score True"),  # type: ignore[arg-type]
        (_recorded(0.5, fingerprint="cd" * 32), 0.5, 1, FP, "recorded fingerprint cdcdcdcdcdcd, the version has abab"),
    ],
)
def test_mismatches(recorded: RecordedPrediction, score: object, label: object, fingerprint: str, why: str) -> None:
    found, exact = compare(recorded, score, label, fingerprint)
    assert found is not None and why in found and not exact


def test_the_report_counts_each_version_and_lists_the_first_mismatches() -> None:
    one, two = VersionTally(1, "11" * 32), VersionTally(2, "22" * 32)
    record(one, _recorded(0.5), None, True)
    record(one, _recorded(0.5), None, False)
    record(two, RecordedPrediction("r-9", 4, 7, 2, FP, 0.5, 1), "recorded score 0.5, replayed 0.9", False)
    report = ReplayReport("t.records", {0: (0, 10), 4: (5, 8)}, 13, [two, one], [(0, 9)], 1, ["swap: ..."])
    assert report.mismatched == 1
    text = report.render()
    lines = text.splitlines()
    assert lines[0] == "replay of t.records 0:[0,10) 4:[5,8)"
    assert lines[3].split() == ["1", "111111111111", "2", "2", "0", "1"]
    assert lines[4].split() == ["2", "222222222222", "1", "0", "1", "0"]
    assert "records 13, predictions 3, mismatched 1, missing predictions 1, dead letters 1" in text
    assert "  id=r-9 partition=4 offset=7 version=2: recorded score 0.5, replayed 0.9" in lines
    assert "missing: 0:9" in lines and lines[-1] == "swap: ..."


def test_a_range_bound_is_an_offset_or_a_time_with_a_zone() -> None:
    assert replay_bound("120") == 120
    assert replay_bound("2026-12-06T08:00:00+00:00") == datetime(2026, 12, 6, 8, tzinfo=UTC)
    for wrong in ("-3", "2026-12-06T08:00:00", "soon"):
        with pytest.raises(argparse.ArgumentTypeError, match="expected an offset or an ISO-8601 time with a zone"):
            replay_bound(wrong)


class _Step:
    """A scoring step whose score is the record's offset / 100 (rejects value b"bad"), as a version would give."""

    def __init__(self, version: int) -> None:
        self.bundle = SimpleNamespace(version=version, fingerprint=FP)

    def __call__(self, messages: list[Any]) -> SimpleNamespace:
        good = [i for i, m in enumerate(messages) if m.value != b"bad"]
        documents = [orjson.dumps({"score": messages[i].offset / 100, "label": 1, "fingerprint": FP}) for i in good]
        return SimpleNamespace(indexes=good, documents=documents)


class _Versions:
    def step(self, version: int) -> Any:
        return _Step(version) if version < 9 else f"version {version} does not load: gone"


def test_each_recorded_prediction_is_checked_with_the_version_that_made_it() -> None:
    records = {(0, o): SimpleNamespace(partition=0, offset=o, value=b"bad" if o == 3 else b"{}") for o in range(5)}
    recorded = {
        (0, 1): [RecordedPrediction("a", 0, 1, 1, FP, 0.01, 1), RecordedPrediction("a", 0, 1, 2, FP, 0.01, 1)],
        (0, 2): [RecordedPrediction("b", 0, 2, 2, FP, 0.5, 1)],  # not what version 2 gives
        (0, 3): [RecordedPrediction("c", 0, 3, 2, FP, 0.03, 1)],  # a record the version rejects
        (0, 4): [RecordedPrediction("d", 0, 4, 9, FP, 0.04, 1)],  # a version that does not load
        (0, 7): [RecordedPrediction("e", 0, 7, 1, FP, 0.07, 1)],  # outside the records read: ignored
    }
    one, two, nine = _rescore(records, recorded, _Versions())  # type: ignore[arg-type]
    assert (one.version, one.predictions, one.matched, one.exact, one.mismatches) == (1, 1, 1, 1, [])
    assert (two.version, two.predictions, two.matched) == (2, 3, 1)
    assert [(m.prediction.id, m.why.split(",")[0]) for m in two.mismatches] == [
        ("b", "recorded score 0.5"), ("c", "the record is rejected when validated again")]  # fmt: skip
    assert [m.why for m in nine.mismatches] == ["version 9 does not load: gone"]
