"""Replay's pure half: a recorded prediction against its replay, the table, and the command's range arguments."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

import pytest

from driftline.messages import RecordedPrediction
from processors.cli import replay_bound
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
