"""What validation produces: typed rows, columnar batches, and rejections with a reason code.

A ``RecordBatch`` is columnar so that the one preprocessing transform can serve a pandas DataFrame at training time
and a batch of validated stream records at serving time with the same code path:

- numeric columns are ``float64`` arrays, ``NaN`` where the value was null or absent (nullable features only);
- categorical columns are ``object`` arrays of ``str``, ``None`` where null or absent;
- image columns are ``object`` arrays of decoded ``uint8`` arrays shaped ``(height, width, channels)`` as they
  arrived (the preprocessing resizes them to the fitted size).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np


class Reason(StrEnum):
    """Why a record was rejected (DESIGN section 2). The value is the dead-letter header and metric label."""

    MALFORMED_JSON = "malformed_json"
    NOT_AN_OBJECT = "not_an_object"
    MISSING_ID = "missing_id"
    ID_TOO_LONG = "id_too_long"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    NON_FINITE = "non_finite"
    OUT_OF_RANGE = "out_of_range"
    TOO_LARGE = "too_large"
    DUPLICATE_FIELD = "duplicate_field"
    NOT_AN_IMAGE = "not_an_image"
    CORRUPT_IMAGE = "corrupt_image"
    WRONG_CHANNELS = "wrong_channels"
    IMAGE_TOO_LARGE = "image_too_large"


@dataclass(frozen=True)
class Rejection:
    """A record that failed validation: the original bytes, the reason code, and a human message."""

    raw: bytes
    reason: Reason
    error: str
    record_id: str | None = None
    index: int = -1  # position in the batch it came from


@dataclass(frozen=True)
class Row:
    """One valid record. ``features`` maps name → float (NaN for null), str/None for categoricals, or an image's
    decoded ``uint8`` array."""

    id: str
    event_time_ms: int
    features: Mapping[str, float | str | np.ndarray | None]
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordBatch:
    """Valid records of one micro-batch, by column. ``index`` holds each row's position in the input batch."""

    ids: list[str]
    event_time_ms: np.ndarray  # int64
    columns: dict[str, np.ndarray]
    index: np.ndarray  # int64

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, positions: np.ndarray) -> RecordBatch:
        """The rows at ``positions``, in that order."""
        return RecordBatch(
            ids=[self.ids[i] for i in positions.tolist()],
            event_time_ms=self.event_time_ms[positions],
            columns={name: column[positions] for name, column in self.columns.items()},
            index=self.index[positions],
        )

    @classmethod
    def empty(cls, feature_names: list[str] | tuple[str, ...], numeric: set[str]) -> RecordBatch:
        return cls(
            ids=[],
            event_time_ms=np.empty(0, dtype=np.int64),
            columns={
                n: np.empty(0, dtype=np.float64 if n in numeric else object) for n in feature_names
            },
            index=np.empty(0, dtype=np.int64),
        )
