"""File replay: CSV and Parquet read back as contract records, bad rows handed to the validator, clear refusals."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from driftline.errors import DataError
from driftline.records import Reason
from driftline.sources import AgrawalSource, FileSource, LabeledRecord, to_frame
from driftline.validation import Validator
from tests.unit.test_sources import AGRAWAL, NAIVE, _write_csv, _write_parquet


def test_csv_replays_what_was_written(tmp_path: Path) -> None:
    original = AgrawalSource(seed=5, n_records=400).take(400)
    replayed = _write_csv(tmp_path).take(1000)
    assert len(replayed) == 400
    assert to_frame(replayed, AGRAWAL).equals(to_frame(original, AGRAWAL))


def test_parquet_replays_nulls_as_nulls(tmp_path: Path) -> None:
    original = AgrawalSource(seed=6, drift="missing:car:0.2@0", n_records=400).take(400)
    replayed = _write_parquet(tmp_path).take(1000)
    assert [r.record for r in replayed] == [r.record for r in original]
    assert [r.label for r in replayed] == [r.label for r in original]


def test_file_without_id_time_or_label(tmp_path: Path) -> None:
    path = tmp_path / "bare.csv"
    pd.DataFrame({n: AgrawalSource(seed=1).frame(3)[n] for n in AGRAWAL.feature_names}).to_csv(
        path, index=False
    )
    items = FileSource(path, AGRAWAL, now_ms=1_000, interval_ms=10).take(10)
    assert [i.record["id"] for i in items] == ["bare-0", "bare-1", "bare-2"]
    assert [i.record["event_time"] for i in items] == [1_000, 1_010, 1_020]
    assert [i.label for i in items] == [None, None, None]
    assert to_frame(items, AGRAWAL)["label"].dtype == object


def test_bad_rows_are_yielded_for_the_validator(tmp_path: Path) -> None:
    frame = AgrawalSource(seed=1).frame(5).astype({"salary": object})
    frame.loc[2, "salary"] = "lots"
    path = tmp_path / "dirty.csv"
    frame.to_csv(path, index=False)
    source = FileSource(path, AGRAWAL)
    items = source.take(10)
    assert len(items) == 5
    _, rejections = Validator(AGRAWAL).validate_batch([orjson.dumps(i.record) for i in items])
    assert [(r.index, r.reason) for r in rejections] == [(2, Reason.WRONG_TYPE)]
    with pytest.raises(DataError, match="record 2"):
        to_frame(items, AGRAWAL)


def test_parquet_codes_and_zoned_timestamps(tmp_path: Path) -> None:
    frame = AgrawalSource(seed=1).frame(3)
    table = pa.table(
        {
            **{n: frame[n].tolist() for n in AGRAWAL.feature_names if AGRAWAL.feature(n).is_numeric},
            **{n: [int(v) for v in frame[n]] for n in ("elevel", "car", "zipcode")},  # integer codes
            "event_time": pa.array([datetime(2024, 1, 1, tzinfo=UTC)] * 3, pa.timestamp("ms", tz="UTC")),
            "id": [7, 8, 9],
        }
    )
    path = tmp_path / "codes.parquet"
    pq.write_table(table, path)
    items = FileSource(path, AGRAWAL).take(3)
    assert [i.record["id"] for i in items] == ["7", "8", "9"]
    assert {i.record["event_time"] for i in items} == {1_704_067_200_000}
    assert [i.record["car"] for i in items] == frame["car"].tolist()


@pytest.mark.parametrize(
    ("name", "write", "match"),
    [
        ("data.json", lambda p: p.write_text("{}"), "expected a .csv, .parquet"),
        ("absent.csv", lambda p: None, "not found"),
        ("narrow.csv", lambda p: p.write_text("id,salary\na,1\n"), "missing"),
        (
            "naive.parquet",
            lambda p: pq.write_table(
                pa.table({**{n: [1] for n in AGRAWAL.feature_names}, "event_time": [NAIVE]}), p
            ),
            "without a time zone",
        ),
    ],
)  # fmt: skip
def test_file_source_refuses_files_it_cannot_read(
    tmp_path: Path, name: str, write: Callable[[Path], object], match: str
) -> None:
    path = tmp_path / name
    write(path)
    with pytest.raises(DataError, match=match):
        FileSource(path, AGRAWAL)


def test_to_frame_names_the_record_that_does_not_fit() -> None:
    items = AgrawalSource(seed=1).take(3)
    items[1] = LabeledRecord({**items[1].record, "age": True}, items[1].label)
    with pytest.raises(DataError, match=r"record 1 \(wrong_type\).*'age'"):
        to_frame(items, AGRAWAL)
