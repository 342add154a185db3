"""Replay a CSV or Parquet file (chosen by suffix) as contract records, streaming it in chunks.

Policy for rows that do not fit the contract: they are yielded as they are, never dropped or repaired, so
that the validator judges them like any stream record (a dead letter with a reason when produced to Kafka,
a DataError naming the row in :func:`~driftline.sources.base.to_frame`). Only the file's shape is checked
up front, with a DataError: unknown suffix, missing file, a feature column absent, or a timestamp column
without a time zone.

Columns: ``contract.id_field`` (absent → ``<file stem>-<row>``), ``contract.event_time_field`` (epoch ms,
ISO-8601 text with a zone, or a zoned timestamp; absent → ``now_ms + row * interval_ms``), every feature, and
``contract.label.name`` if present. Other columns are ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from driftline.contract import Contract
from driftline.errors import DataError
from driftline.sources.base import LabeledRecord, Source, event_times

logger = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
_CSV = (".csv",)
_PARQUET = (".parquet", ".pq")


class FileSource(Source):
    """Records of a CSV or Parquet file, in file order; ``records()`` rereads the file each time."""

    def __init__(
        self,
        path: str | Path,
        contract: Contract,
        *,
        now_ms: int | None = None,
        interval_ms: int = 0,
        chunk_rows: int = 50_000,
    ) -> None:
        self.path = Path(path)
        self._contract = contract
        self._suffix = self.path.suffix.lower()
        if self._suffix not in _CSV + _PARQUET:
            raise DataError(
                f"{self.path}: expected a .csv, .parquet or .pq file, found suffix {self._suffix!r}"
            )
        if not self.path.is_file():
            raise DataError(f"{self.path}: file not found")
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be >= 1, found {chunk_rows}")
        self._chunk_rows = chunk_rows
        self._interval_ms = interval_ms
        # Fixed at construction so that every records() call yields the same event times.
        self._now_ms = now_ms if now_ms is not None else int(datetime.now(UTC).timestamp() * 1000)
        columns = self._check_columns()
        self._has_id = contract.id_field in columns
        self._has_time = contract.event_time_field in columns
        self._has_label = contract.label.name in columns
        wanted = [contract.id_field, contract.event_time_field, *contract.feature_names, contract.label.name]
        self._read = [c for c in wanted if c in columns]

    @property
    def contract(self) -> Contract:
        return self._contract

    @property
    def has_labels(self) -> bool:
        """Whether the file has the contract's label column (training needs it; replaying does not)."""
        return self._has_label

    def __repr__(self) -> str:
        return f"FileSource({str(self.path)!r}, contract={self._contract.name!r})"

    def records(self) -> Iterator[LabeledRecord]:
        row = 0
        for chunk in self._chunks():
            n = len(next(iter(chunk.values())))
            yield from self._records(chunk, row, n)
            row += n

    # -- internals ----------------------------------------------------------------------------------------

    def _check_columns(self) -> list[str]:
        try:
            if self._suffix in _CSV:
                columns = list(pd.read_csv(self.path, nrows=0).columns)
            else:
                schema = pq.read_schema(self.path)
                columns = list(schema.names)
                self._check_timestamp(schema)
        except (OSError, ValueError, pa.ArrowException) as exc:
            raise DataError(f"{self.path}: cannot read the file's columns: {exc}") from exc
        missing = [name for name in self._contract.feature_names if name not in columns]
        if missing:
            raise DataError(
                f"{self.path}: expected every feature of contract {self._contract.name!r} as a column; "
                f"missing {missing}, found {columns}"
            )
        return columns

    def _check_timestamp(self, schema: pa.Schema) -> None:
        name = self._contract.event_time_field
        if name in schema.names:
            kind = schema.field(name).type
            if pa.types.is_timestamp(kind) and kind.tz is None:
                raise DataError(
                    f"{self.path}: column {name!r} is a timestamp without a time zone; "
                    "expected a zoned timestamp (e.g. UTC), epoch milliseconds or ISO-8601 text with a zone"
                )

    def _chunks(self) -> Iterator[dict[str, list[Any]]]:
        """Column name → Python values (None for null) for each chunk of rows."""
        if self._suffix in _PARQUET:
            parquet = pq.ParquetFile(self.path)
            for batch in parquet.iter_batches(batch_size=self._chunk_rows, columns=self._read):
                yield {name: batch.column(name).to_pylist() for name in self._read}
            return
        c = self._contract
        as_text = {name: str for name in (c.id_field, *(f.name for f in c.categorical)) if name in self._read}
        reader = pd.read_csv(self.path, usecols=self._read, dtype=as_text, chunksize=self._chunk_rows)
        numeric = {f.name for f in c.numeric}
        with reader:
            for frame in reader:
                yield {
                    name: _csv_numbers(frame[name]) if name in numeric else _python(frame[name])
                    for name in self._read
                }

    def _records(self, chunk: dict[str, list[Any]], row: int, n: int) -> Iterator[LabeledRecord]:
        c = self._contract
        if self._has_id:
            ids = [_as_text(v) for v in chunk[c.id_field]]
        else:
            ids = [f"{self.path.stem}-{i}" for i in range(row, row + n)]
        if self._has_time:
            times = [_event_time(v) for v in chunk[c.event_time_field]]
        else:
            times = event_times(self._now_ms + np.arange(row, row + n, dtype=np.int64) * self._interval_ms, c)
        values = [chunk[f.name] if f.is_numeric else [_as_text(v) for v in chunk[f.name]] for f in c.features]
        labels = [_integral(v) for v in chunk[c.label.name]] if self._has_label else [None] * n
        keys = (c.id_field, c.event_time_field, *c.feature_names)
        for record, label in zip(zip(ids, times, *values, strict=True), labels, strict=True):
            yield LabeledRecord(dict(zip(keys, record, strict=True)), label)


def _python(column: pd.Series) -> list[Any]:
    """Python values of a column, None for missing."""
    return [None if v.__class__ is float and v != v else v for v in column.tolist()]


def _csv_numbers(column: pd.Series) -> list[Any]:
    """A numeric CSV column: numbers parsed, but a cell that is not a number stays text for the validator.

    pandas reads a whole column as text when one cell is not a number; parsing cell by cell keeps one bad
    cell from turning every row of its chunk into a wrong_type rejection.
    """
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return _python(column)
    parsed = _python(pd.to_numeric(column, errors="coerce"))
    return [text if number is None else number for number, text in zip(parsed, _python(column), strict=True)]


def _integral(v: Any) -> Any:
    """3.0 → 3 (a pandas int column with nulls became float); anything else unchanged."""
    return int(v) if v.__class__ is float and v.is_integer() else v


def _as_text(v: Any) -> Any:
    """Ids and categories: integer codes become their text (as the validator would); the rest unchanged."""
    v = _integral(v)
    return str(v) if v.__class__ is int else v


def _event_time(v: Any) -> Any:
    if isinstance(v, datetime):  # a zoned Parquet timestamp (naive ones are refused up front)
        return (v - _EPOCH) // _ONE_MS if v.tzinfo is not None else v.isoformat()
    return _integral(v)
