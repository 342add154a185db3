"""The fitted preprocessor (DESIGN section 3): fitted on the training split, applied unchanged at serving.

One ``transform`` serves training and streaming columns alike (see :mod:`driftline.preprocessing.columns`), so
the same float64 arithmetic runs and the arrays match to the bit.

Layout of ``X`` (float32): numeric features in contract order; under a ``numeric_encoding``, then each numeric
feature's bins as ``name#0``..``name#T-1`` (see :mod:`driftline.preprocessing.encodings`); then each categorical
in contract order, one-hot as ``name=<category>`` columns then ``name=__unknown__`` (and ``name=__missing__``
under the ``category`` missing policy), or as one ``name`` column holding the code (known ``0..K-1``, unknown
``K``, missing ``K+1``). An image feature (the only feature of its contract) gives ``name#0``..``name#{h*w*c-1}``:
its pixels at the fitted size (see :mod:`driftline.preprocessing.pixels`), row-major ``(h, w, c)``, divided by
``scale`` (255) in float32. Numeric: ``((x, or impute if NaN) - center) / scale`` in float64, then cast to float32.
``center``/``scale`` are mean/std (standard), min/(max-min) (minmax) or 0/1 (none) of the imputed training
column; a zero std or range gives ``scale = 1``. Values outside the training range are never clipped.

The fitted state is saved as canonical JSON and ``fingerprint`` is the sha256 of those bytes (see
:mod:`driftline.preprocessing.artifact`). Never pickle.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from driftline.contract import Contract, Feature
from driftline.errors import PreprocessingError
from driftline.preprocessing.artifact import canonical_json, read_json_artifact
from driftline.preprocessing.columns import category_codes, fixed_categories, require_columns
from driftline.preprocessing.encodings import Bins, fit_edges
from driftline.preprocessing.pixels import pixel_rows
from driftline.preprocessing.spec import (
    MISSING,
    UNKNOWN,
    CategoricalParams,
    ImageParams,
    NumericParams,
    PreprocessingOptions,
    PreprocessorSpec,
)


@dataclass(frozen=True)
class TransformStats:
    """Per-batch data quality: missing values per feature, unseen categories per categorical feature."""

    rows: int
    missing: dict[str, int]
    unknown: dict[str, int]


@dataclass(frozen=True)
class Preprocessor:
    """A fitted preprocessor; build with ``fit``, ``from_dict`` or ``load``."""

    spec: PreprocessorSpec
    _numeric: tuple[NumericParams, ...] = field(init=False, repr=False, compare=False)
    _categorical: tuple[CategoricalParams, ...] = field(init=False, repr=False, compare=False)
    _images: tuple[ImageParams, ...] = field(init=False, repr=False, compare=False)
    _vectors: tuple[np.ndarray, np.ndarray, np.ndarray] = field(init=False, repr=False, compare=False)
    _bins: Bins | None = field(init=False, repr=False, compare=False)
    _lookups: tuple[dict[str, int], ...] = field(init=False, repr=False, compare=False)
    _names_out: tuple[str, ...] = field(init=False, repr=False, compare=False)
    fingerprint: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        num = tuple(f for f in self.spec.features if isinstance(f, NumericParams))
        cat = tuple(f for f in self.spec.features if isinstance(f, CategoricalParams))
        images = tuple(f for f in self.spec.features if isinstance(f, ImageParams))
        vectors = tuple(
            np.array([getattr(f, a) for f in num], dtype=float) for a in ("impute", "center", "scale")
        )
        edges = tuple(np.array(f.edges or (), dtype=np.float64) for f in num)
        names = [f.name for f in num]
        for params, e in zip(num, edges, strict=True):
            names += [f"{params.name}#{j}" for j in range(len(e) - 1)]
        for f in cat:
            if self.spec.options.encoding == "index":
                names.append(f.name)
            else:
                names += [f"{f.name}={c}" for c in self._buckets(f)]
        for image in images:
            names += [f"{image.name}#{j}" for j in range(image.height * image.width * image.channels)]
        object.__setattr__(self, "_numeric", num)
        object.__setattr__(self, "_categorical", cat)
        object.__setattr__(self, "_images", images)
        object.__setattr__(self, "_vectors", vectors)
        encoding = self.spec.options.numeric_encoding
        object.__setattr__(self, "_bins", None if encoding is None else Bins(edges, encoding.kind))
        object.__setattr__(self, "_lookups", tuple({c: i for i, c in enumerate(f.categories)} for f in cat))
        object.__setattr__(self, "_names_out", tuple(names))
        object.__setattr__(self, "fingerprint", hashlib.sha256(canonical_json(self.to_dict())).hexdigest())

    def _buckets(self, f: CategoricalParams) -> tuple[str, ...]:
        extra = (UNKNOWN,) if f.impute is not None else (UNKNOWN, MISSING)
        return (*f.categories, *extra)

    @classmethod
    def fit(
        cls,
        columns: Mapping[str, np.ndarray],
        contract: Contract,
        options: PreprocessingOptions | None = None,
    ) -> Preprocessor:
        """Fit on the training split only (columns shaped as ``RecordBatch.columns``)."""
        options = options or PreprocessingOptions()
        n = require_columns(columns, contract.feature_names, PreprocessingError)
        if n == 0:
            raise PreprocessingError("cannot fit preprocessing on an empty training set (0 rows)")
        params: list[NumericParams | CategoricalParams | ImageParams] = [
            _fit_image(f, columns[f.name])
            if f.is_image
            else _fit_numeric(f.name, columns[f.name], options)
            if f.is_numeric
            else _fit_categorical(f, columns[f.name], options)
            for f in contract.features
        ]
        try:
            return cls(PreprocessorSpec(contract=contract.name, options=options, features=tuple(params)))
        except ValidationError as exc:
            raise PreprocessingError(f"fitted preprocessing is invalid:\n{exc}") from exc

    @property
    def options(self) -> PreprocessingOptions:
        return self.spec.options

    @property
    def feature_names_out(self) -> tuple[str, ...]:
        """Column names of ``X``, e.g. ``age``, ``car=3``, ``car=__unknown__``."""
        return self._names_out

    @property
    def width(self) -> int:
        return len(self._names_out)

    def categories(self, name: str) -> tuple[str, ...]:
        """The fixed category set of a categorical feature (without the unknown/missing buckets)."""
        for f in self._categorical:
            if f.name == name:
                return f.categories
        raise PreprocessingError(
            f"no categorical feature {name!r}; have {[f.name for f in self._categorical]}"
        )

    def transform(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """``X`` as float32 ``(n, width)`` with the fitted parameters."""
        return self.transform_with_stats(columns)[0]

    def transform_with_stats(self, columns: Mapping[str, np.ndarray]) -> tuple[np.ndarray, TransformStats]:
        """``X`` plus the batch's missing and unknown-category counts (for metrics)."""
        names = [f.name for f in self.spec.features]
        n = require_columns(columns, names, PreprocessingError)
        X = np.zeros((n, self.width), dtype=np.float32)
        missing: dict[str, int] = {}
        unknown: dict[str, int] = {}
        k = offset = len(self._numeric)
        if k:
            raw = np.empty((k, n), dtype=np.float64)
            try:
                for j, f in enumerate(self._numeric):
                    raw[j] = columns[f.name]
            except (TypeError, ValueError) as exc:
                raise PreprocessingError(
                    f"numeric columns must be float64 arrays with NaN for null: {exc}"
                ) from exc
            impute, center, scale = self._vectors
            mask = np.isnan(raw)
            np.copyto(raw, impute[:, None], where=mask)
            offset = self._encode(raw, X, k)
            raw -= center[:, None]
            raw /= scale[:, None]
            X[:, :k] = raw.T
            missing.update(zip([f.name for f in self._numeric], mask.sum(axis=1).tolist(), strict=True))
        rows = np.arange(n)
        onehot = self.spec.options.encoding == "onehot"
        for c, lookup in zip(self._categorical, self._lookups, strict=True):
            size = len(c.categories)
            fill = lookup[c.impute] if c.impute is not None else size + 1
            codes = category_codes(columns[c.name], lookup, size, -1)
            absent = codes < 0
            missing[c.name] = int(np.count_nonzero(absent))
            unknown[c.name] = int(np.count_nonzero(codes == size))
            codes[absent] = fill
            if onehot:
                X[rows, offset + codes] = 1.0
                offset += size + (1 if c.impute is not None else 2)
            else:
                X[:, offset] = codes
                offset += 1
        for image in self._images:
            size = image.height * image.width * image.channels
            np.divide(pixel_rows(columns[image.name], image), np.float32(image.scale), out=X[:, offset : offset + size])
            missing[image.name] = 0  # never nullable: the validator refuses a record without its image
            offset += size
        return X, TransformStats(rows=n, missing=missing, unknown=unknown)

    def _encode(self, imputed: np.ndarray, X: np.ndarray, start: int) -> int:
        """Write each numeric feature's bins (from its imputed values) into ``X`` from ``start``; the next column."""
        if self._bins is None:
            return start
        self._bins.write(imputed, X[:, start : start + self._bins.width])
        return start + self._bins.width

    def to_dict(self) -> dict[str, Any]:
        return self.spec.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: Any) -> Preprocessor:
        """Rebuild from ``to_dict`` output, validating every field (PreprocessingError says what is wrong)."""
        try:
            return cls(PreprocessorSpec.model_validate(data))
        except ValidationError as exc:
            raise PreprocessingError(f"not a valid Driftline preprocessing spec:\n{exc}") from exc

    def save(self, path: str | Path) -> None:
        """Write the canonical JSON (whose sha256 is ``fingerprint``)."""
        Path(path).write_bytes(canonical_json(self.to_dict()))

    @classmethod
    def load(cls, path: str | Path) -> Preprocessor:
        """Read and validate ``preprocessing.json``; never unpickles."""
        try:
            return cls.from_dict(read_json_artifact(path, "preprocessing file"))
        except PreprocessingError as exc:
            raise PreprocessingError(f"{path}: {exc}") from exc


def _fit_numeric(name: str, values: np.ndarray, options: PreprocessingOptions) -> NumericParams:
    x = np.asarray(values, dtype=np.float64)
    present = x[~np.isnan(x)]
    if present.size == 0:
        raise PreprocessingError(f"numeric feature {name!r} is null in every training row; cannot impute")
    if not np.isfinite(present).all():
        raise PreprocessingError(f"numeric feature {name!r} holds infinite values in training")
    if options.numeric_impute == "median":
        impute = float(np.median(present))
    elif options.numeric_impute == "mean":
        impute = float(present.mean())
    else:
        impute = options.fill_value
    filled = np.where(np.isnan(x), impute, x)
    center, scale = 0.0, 1.0
    if options.scaling == "standard":
        center, scale = float(filled.mean()), float(filled.std())
    elif options.scaling == "minmax":
        center, scale = float(filled.min()), float(filled.max() - filled.min())
    if not (np.isfinite(center) and np.isfinite(scale)):
        raise PreprocessingError(f"numeric feature {name!r}: scaling statistics overflow ({center}, {scale})")
    if filled.min() == filled.max():  # constant: exact test, as a rounded mean can leave std at ~1e-16
        scale = 1.0
    encoding = options.numeric_encoding
    edges = None if encoding is None else fit_edges(filled, encoding)
    return NumericParams(name=name, impute=impute, center=center, scale=scale, edges=edges)


def _fit_image(feature: Feature, values: np.ndarray) -> ImageParams:
    """An image's size comes from the contract; the training images are checked to be images of it."""
    height, width, channels = feature.shape
    params = ImageParams(name=feature.name, height=height, width=width, channels=channels)
    pixel_rows(values[:1], params)  # a clear error now if the column does not hold decoded images
    return params


def _fit_categorical(
    feature: Feature, values: np.ndarray, options: PreprocessingOptions
) -> CategoricalParams:
    categories = fixed_categories(values, feature)
    if not categories:
        raise PreprocessingError(
            f"categorical feature {feature.name!r} has no categories: none declared, all null in training"
        )
    clash = {UNKNOWN, MISSING} & set(categories)
    if clash:
        raise PreprocessingError(
            f"categorical feature {feature.name!r} uses reserved category names {sorted(clash)}"
        )
    impute = None
    if options.categorical_missing == "most_frequent":
        size = len(categories)
        codes = category_codes(values, dict(zip(categories, range(size), strict=True)), size, size)
        counts = np.bincount(codes, minlength=size + 1)[:size]
        if counts.max() == 0:
            raise PreprocessingError(
                f"categorical feature {feature.name!r}: no training value is a known category; cannot impute"
            )
        impute = categories[int(counts.argmax())]  # argmax takes the first of ties: category order
    return CategoricalParams(name=feature.name, categories=categories, impute=impute)
