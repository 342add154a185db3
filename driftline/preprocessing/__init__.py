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
from driftline.preprocessing.pixels import pixel_rows
from driftline.preprocessing.preprocessor import Preprocessor, TransformStats
from driftline.preprocessing.spec import MISSING, UNKNOWN, ImageParams, NumericEncoding, PreprocessingOptions

__all__ = [
    "MISSING",
    "UNKNOWN",
    "ImageParams",
    "NumericEncoding",
    "PreprocessingOptions",
    "Preprocessor",
    "TransformStats",
    "canonical_json",
    "category_codes",
    "category_string",
    "columns_from_frame",
    "fixed_categories",
    "pixel_rows",
    "read_json_artifact",
    "require_columns",
]
