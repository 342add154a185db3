"""What every data source provides: a contract and an iterator of records, each with its label kept apart.

A source yields ``LabeledRecord(record, label)``: ``record`` is the JSON-ready flat dict a producer puts on
``driftline.records`` (id, event time, features — never the label); ``label`` travels separately, later, on
``driftline.labels``. :func:`to_frame` turns records into the training DataFrame through the same validator
the stream uses, so training and serving see identically typed columns.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from driftline.contract import Contract
from driftline.errors import DataError
from driftline.records import RecordBatch
from driftline.validation import Validator

logger = logging.getLogger(__name__)


class LabeledRecord(NamedTuple):
    """One record as a producer sends it, and its label (None when unknown)."""

    record: dict[str, Any]
    label: int | str | None


class Source(ABC):
    """A stream of contract records. ``records()`` starts from the beginning on every call."""

    @property
    @abstractmethod
    def contract(self) -> Contract:
        """The contract every record of this source fits."""

    @abstractmethod
    def records(self) -> Iterator[LabeledRecord]:
        """Records in order, from the first; possibly endless (generators)."""

    def take(self, n: int) -> list[LabeledRecord]:
        """The first ``n`` records (fewer if the source ends sooner)."""
        if n < 0:
            raise ValueError(f"take(n) expects n >= 0, found {n}")
        return list(islice(self.records(), n))

    def frame(self, n: int) -> pd.DataFrame:
        """The first ``n`` records as a training frame (see :func:`to_frame`)."""
        return to_frame(self.take(n), self.contract)


def to_frame(records: Iterable[LabeledRecord], contract: Contract) -> pd.DataFrame:
    """Records → a DataFrame typed as ``RecordBatch`` expects, plus id, event time and label columns.

    Columns, in order: ``contract.id_field`` (object str), ``contract.event_time_field`` (int64 epoch ms),
    each feature (numeric float64 with NaN; categorical object of str/None; image object of the decoded ``uint8``
    arrays, each at the size it arrived), ``contract.label.name`` (int64
    when every label is an int, else object with None for unknown). A record that does not fit the contract
    raises DataError naming it: a training frame never drops rows silently.
    """
    records = list(records)
    validator = Validator(contract)
    batch, rejections = validator.validate_objects(r.record for r in records)
    if rejections:
        first = rejections[:3]
        detail = "; ".join(f"record {r.index} ({r.reason.value}): {r.error}" for r in first)
        raise DataError(
            f"{len(rejections)} of {len(records)} records do not fit contract {contract.name!r}: {detail}"
            + (" ..." if len(rejections) > len(first) else "")
        )
    return frame_from_batch(batch, [records[i].label for i in batch.index.tolist()], contract)


def frame_from_batch(batch: RecordBatch, labels: list[int | str | None], contract: Contract) -> pd.DataFrame:
    """A validated batch and its labels (one per row) as the frame :func:`to_frame` describes."""
    columns: dict[str, Any] = {
        contract.id_field: pd.Series(batch.ids, dtype=object),
        contract.event_time_field: pd.Series(batch.event_time_ms, dtype=np.int64),
    }
    for name in contract.feature_names:
        column = batch.columns[name]
        columns[name] = pd.Series(column, dtype=column.dtype)
    columns[contract.label.name] = _label_series(labels)
    return pd.DataFrame(columns)


def event_times(ms: np.ndarray, contract: Contract) -> list[Any]:
    """Epoch-ms event times as a source emits them: ints, or ISO-8601 UTC text if the contract says so."""
    if contract.event_time_format == "iso8601":
        return np.datetime_as_string(ms.astype("datetime64[ms]"), unit="ms", timezone="UTC").tolist()
    return ms.astype(np.int64).tolist()


def _label_series(labels: list[int | str | None]) -> pd.Series:
    if all(type(label) is int for label in labels):
        return pd.Series(labels, dtype=np.int64)
    return pd.Series(labels, dtype=object)
