"""Persisted preprocessing (DESIGN section 3): fitted on the training split, applied unchanged at serving."""

from __future__ import annotations

from driftline.preprocessing.artifact import canonical_json, read_json_artifact
from driftline.preprocessing.columns import (
    category_codes,
    category_string,
    columns_from_frame,
    fixed_categories,
    require_columns,
)
from driftline.preprocessing.preprocessor import Preprocessor, TransformStats
from driftline.preprocessing.spec import MISSING, UNKNOWN, NumericEncoding, PreprocessingOptions

__all__ = [
    "MISSING",
    "UNKNOWN",
    "NumericEncoding",
    "PreprocessingOptions",
    "Preprocessor",
    "TransformStats",
    "canonical_json",
    "category_codes",
    "category_string",
    "columns_from_frame",
    "fixed_categories",
    "read_json_artifact",
    "require_columns",
]
