"""Feature columns in the ``RecordBatch.columns`` shape, and the codes of categorical values.

Training (a DataFrame via ``columns_from_frame``) and streaming (``RecordBatch.columns``) both arrive in this
columnar shape, so the one transform runs the same arithmetic on both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from driftline.contract import Contract, Feature
from driftline.errors import PreprocessingError

_NUMBER_KINDS = frozenset({"floating", "integer", "mixed-integer-float", "decimal", "empty"})


def category_string(value: Any) -> str:
    """How a non-null categorical value becomes ``str``: strings as they are, integral numbers without a
    fractional part (``3``, ``3.0`` and ``np.int64(3)`` all give ``"3"``, so a CSV int column read as float
    matches the wire), other floats by shortest repr (``"2.5"``), anything else by ``str()``."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        f = float(value)
        return str(int(f)) if f.is_integer() else repr(f)
    return str(value)


def columns_from_frame(frame: pd.DataFrame, contract: Contract) -> dict[str, np.ndarray]:
    """The contract's features of ``frame`` as ``RecordBatch.columns``: numeric float64 with NaN, categorical
    object arrays of ``str``/``None`` (see ``category_string``), image object arrays of the decoded ``uint8``
    arrays as they are. Pandas NA/NaN/None all count as missing."""
    absent = [f.name for f in contract.features if f.name not in frame.columns]
    if absent:
        raise PreprocessingError(
            f"frame lacks contract features {absent}; it has {list(map(str, frame.columns))}"
        )
    out: dict[str, np.ndarray] = {}
    for feature in contract.features:
        series = frame[feature.name]
        if isinstance(series, pd.DataFrame):
            raise PreprocessingError(f"frame has the column {feature.name!r} more than once")
        if feature.is_image:
            out[feature.name] = series.to_numpy(dtype=object)  # one array per row, never stacked
        else:
            out[feature.name] = _numeric(series) if feature.is_numeric else _categorical(series)
    return out


def _numeric(series: pd.Series) -> np.ndarray:
    inferred = pd.api.types.infer_dtype(series, skipna=True)
    if pd.api.types.is_bool_dtype(series.dtype) or inferred not in _NUMBER_KINDS:
        raise PreprocessingError(
            f"numeric feature {series.name!r} must hold numbers, found {inferred} (dtype {series.dtype})"
        )
    return series.to_numpy(dtype=np.float64, na_value=np.nan)


def _categorical(series: pd.Series) -> np.ndarray:
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    table = np.array([*(category_string(u) for u in uniques), None], dtype=object)
    return table[codes]  # code -1 (missing) picks the trailing None


# Up to this many values, a dict lookup per value is cheaper than hash-factorising the batch (a serving
# micro-batch is below it); for larger batches factorising wins.
_LOOKUP_EACH_UP_TO = 256


def category_codes(values: np.ndarray, index: Mapping[str, int], unknown: int, missing: int) -> np.ndarray:
    """A categorical column's codes: ``index[value]``, ``unknown`` for other values, ``missing`` for null ones."""
    values = np.asarray(values, dtype=object)
    if len(values) <= _LOOKUP_EACH_UP_TO:
        return _codes_each(values, index, unknown, missing)
    return _codes_factorised(values, index, unknown, missing)


def _codes_each(values: np.ndarray, index: Mapping[str, int], unknown: int, missing: int) -> np.ndarray:
    get = index.get

    def other(v: Any) -> int:  # what factorising does with it: str subclasses are looked up, NA values missing
        if isinstance(v, str):
            return get(v, unknown)
        return missing if pd.api.types.is_scalar(v) and pd.isna(v) else unknown

    return np.fromiter(
        (get(v, unknown) if v.__class__ is str else missing if v is None else other(v) for v in values),
        dtype=np.intp,
        count=len(values),
    )


def _codes_factorised(values: np.ndarray, index: Mapping[str, int], unknown: int, missing: int) -> np.ndarray:
    """Hash-factorise the batch, then map each distinct value once."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    table = np.fromiter((index.get(u, unknown) for u in uniques), dtype=np.intp, count=len(uniques))
    return np.append(table, np.intp(missing))[codes]


def fixed_categories(values: np.ndarray, feature: Feature) -> tuple[str, ...]:
    """The category set fixed at fit time: the contract's declared categories, else sorted distinct values."""
    if feature.categories is not None:
        return tuple(feature.categories)
    uniques = pd.unique(pd.Series(np.asarray(values, dtype=object)).dropna())
    bad = sorted({type(u).__name__ for u in uniques if not isinstance(u, str)})
    if bad:
        raise PreprocessingError(
            f"categorical feature {feature.name!r} must hold str values, found {bad} (use columns_from_frame)"
        )
    return tuple(sorted(uniques))


def require_columns(columns: Mapping[str, np.ndarray], names: Sequence[str], error: type[Exception]) -> int:
    """Check that every named column is present and all have one length; return that length."""
    absent = [n for n in names if n not in columns]
    if absent:
        raise error(f"columns {absent} are missing; found {sorted(columns)}")
    lengths = {n: len(columns[n]) for n in names}
    if len(set(lengths.values())) > 1:
        raise error(f"columns must have one length, found {lengths}")
    return next(iter(lengths.values())) if lengths else 0
