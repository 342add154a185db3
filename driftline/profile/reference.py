"""The drift reference (DESIGN section 6): fitted on the training split and the model's scores on it, then
used to count each scored serving batch in the same bins (see :mod:`driftline.profile.bins`).

``profile.json`` is canonical JSON and ``fingerprint`` is its sha256, as for ``preprocessing.json``. Optional parts
(the confidence bins, the image column) are left out when absent, so a profile written before them loads and
keeps its bytes and fingerprint.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from driftline.contract import Contract, Feature, FeatureKind, ImageEncoding, Task
from driftline.errors import DataError, PreprocessingError
from driftline.images import decode_image, encode_png
from driftline.preprocessing import (
    Preprocessor,
    canonical_json,
    category_codes,
    fixed_categories,
    read_json_artifact,
    require_columns,
)
from driftline.profile.bins import (
    CONFIDENCE,
    PREDICTION,
    CategoricalBins,
    ConfidenceBins,
    ImageColumn,
    NumericBins,
    PredictionBins,
    ProfileSpec,
)
from driftline.profile.image_stats import image_statistics
from driftline.validation.invalid import Invalid

_IMAGE_SAMPLE = 32  # images in the warm-up sample at most: base64 PNG text is large


@dataclass(frozen=True)
class Profile:
    """A fitted drift reference; build with ``fit``, ``from_dict`` or ``load``."""

    spec: ProfileSpec
    _edges: dict[str, np.ndarray] = field(init=False, repr=False, compare=False)
    _lookups: dict[str, dict[str, int]] = field(init=False, repr=False, compare=False)
    fingerprint: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        edges = {
            f.name: np.array(f.edges, dtype=float) for f in self.spec.features if isinstance(f, NumericBins)
        }
        edges[PREDICTION] = np.array(self.spec.prediction.edges, dtype=float)
        if self.spec.confidence is not None:
            edges[CONFIDENCE] = np.array(self.spec.confidence.edges, dtype=float)
        lookups = {
            f.name: {c: i for i, c in enumerate(f.categories)}
            for f in self.spec.features
            if isinstance(f, CategoricalBins)
        }
        object.__setattr__(self, "_edges", edges)
        object.__setattr__(self, "_lookups", lookups)
        object.__setattr__(self, "fingerprint", hashlib.sha256(canonical_json(self.to_dict())).hexdigest())

    @classmethod
    def fit(
        cls,
        columns: Mapping[str, np.ndarray],
        contract: Contract,
        scores: np.ndarray,
        *,
        bins: int = 10,
        preprocessor: Preprocessor | None = None,
        sample_size: int = 256,
        seed: int = 0,
    ) -> Profile:
        """Reference bins from the training split and the model's scores on it. Pass the fitted
        ``preprocessor`` so categorical bins use exactly its category set (else the same rule is applied).
        An image contract's column holds decoded ``uint8`` images (h, w, c) of any size."""
        n = require_columns(columns, contract.feature_names, DataError)
        if n == 0:
            raise DataError("cannot fit a profile on an empty reference set (0 rows)")
        if bins < 2:
            raise DataError(f"bins must be at least 2, found {bins}")
        probs = np.linspace(0.0, 1.0, bins + 1)[1:-1]
        features: list[NumericBins | CategoricalBins] = []
        image = contract.image
        if image is not None:
            for name, x in image_statistics(columns[image.name], image.name).items():
                edges = _quantile_edges(x, probs)
                features.append(NumericBins(name=name, edges=tuple(edges.tolist()), **_bins(_numeric_counts(x, edges))))
        for f in contract.features if image is None else ():
            values = columns[f.name]
            if f.is_numeric:
                x = np.asarray(values, dtype=np.float64)
                edges = _quantile_edges(x[~np.isnan(x)], probs)
                counts = _numeric_counts(x, edges)
                features.append(NumericBins(name=f.name, edges=tuple(edges.tolist()), **_bins(counts)))
            else:
                try:
                    cats = preprocessor.categories(f.name) if preprocessor else fixed_categories(values, f)
                except PreprocessingError as exc:
                    raise DataError(str(exc)) from exc
                lookup = {c: i for i, c in enumerate(cats)}
                counts = _count(category_codes(values, lookup, len(cats), len(cats) + 1), len(cats) + 2)
                features.append(CategoricalBins(name=f.name, categories=cats, **_bins(counts)))
        classes = contract.label.classes
        s = _checked_scores(scores, n, contract.label.task, len(classes))
        pred = _predictions(s, contract.label.task)
        if pred.dtype.kind == "f":
            edges = _quantile_edges(pred, probs)
            prediction = PredictionBins(
                kind="probability", edges=tuple(edges.tolist()), **_bins(_score_counts(pred, edges))
            )
        else:
            prediction = PredictionBins(kind="class", classes=classes, **_bins(_count(pred, len(classes))))
        confident = _confidences(s, contract.label.task)
        edges = _quantile_edges(confident, probs)
        confidence = ConfidenceBins(edges=tuple(edges.tolist()), **_bins(_score_counts(confident, edges)))
        size = min(n, sample_size if image is None else min(sample_size, _IMAGE_SAMPLE))
        rows = np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))
        if image is None:
            sample = {f.name: _sample(columns[f.name], rows, f.is_numeric) for f in contract.features}
        else:
            images = list(columns[image.name])
            sample = {image.name: tuple(encode_png(images[i]) for i in rows.tolist())}
        try:
            spec = ProfileSpec(
                contract=contract.name,
                rows=n,
                preprocessing_fingerprint=preprocessor.fingerprint if preprocessor else None,
                features=tuple(features),
                prediction=prediction,
                confidence=confidence,
                image=_image_column(image) if image is not None else None,
                sample=sample,
            )
        except ValidationError as exc:
            raise DataError(f"fitted profile is invalid:\n{exc}") from exc
        return cls(spec)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The keys of the feature count vectors: the features, or an image's statistics (``image.ink_ratio``)."""
        return tuple(f.name for f in self.spec.features)

    @property
    def column_names(self) -> tuple[str, ...]:
        """The input columns ``counts`` reads: the features, or the one image feature."""
        return (self.spec.image.name,) if self.spec.image else self.feature_names

    @property
    def categorical_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.spec.features if f.kind == "categorical")

    def fractions(self) -> dict[str, np.ndarray]:
        """Reference fraction per bin, keyed like ``counts`` (feature names, ``PREDICTION``, ``CONFIDENCE``)."""
        out = {f.name: np.array(f.fractions, dtype=float) for f in self.spec.features}
        out[PREDICTION] = np.array(self.spec.prediction.fractions, dtype=float)
        if self.spec.confidence is not None:
            out[CONFIDENCE] = np.array(self.spec.confidence.fractions, dtype=float)
        return out

    def counts(self, columns: Mapping[str, np.ndarray], scores: np.ndarray) -> dict[str, np.ndarray]:
        """Count vectors (int64) of one scored batch in the reference bins; each sums to the batch size.
        Keyed by ``feature_names``, ``PREDICTION``, and ``CONFIDENCE`` when the profile has confidence bins."""
        n = require_columns(columns, self.column_names, DataError)
        out: dict[str, np.ndarray] = {}
        image = self.spec.image
        stats = image_statistics(columns[image.name], image.name) if image else {}
        for f in self.spec.features:
            if image is not None:
                out[f.name] = _numeric_counts(stats[f.name], self._edges[f.name])
            elif isinstance(f, CategoricalBins):
                size = len(f.categories)
                out[f.name] = _count(
                    category_codes(columns[f.name], self._lookups[f.name], size, size + 1), size + 2
                )
            else:
                out[f.name] = _numeric_counts(
                    np.asarray(columns[f.name], dtype=np.float64), self._edges[f.name]
                )
        p = self.spec.prediction
        task = Task.BINARY if p.kind == "probability" else Task.MULTICLASS
        s = _checked_scores(scores, n, task, len(p.classes))
        pred = _predictions(s, task)
        out[PREDICTION] = (
            _score_counts(pred, self._edges[PREDICTION])
            if p.kind == "probability"
            else _count(pred, len(p.classes))
        )
        if self.spec.confidence is not None:
            out[CONFIDENCE] = _score_counts(_confidences(s, task), self._edges[CONFIDENCE])
        return out

    def sample_columns(self) -> dict[str, np.ndarray]:
        """The reference sample as ``RecordBatch.columns`` (float64/NaN, object/None; an image feature: an object
        array of decoded ``uint8`` images), for model warm-up."""
        image = self.spec.image
        if image is not None:
            return {image.name: _decoded(self.spec.sample[image.name], image)}
        return {
            f.name: (
                np.array([np.nan if v is None else v for v in self.spec.sample[f.name]], dtype=np.float64)
                if f.kind == "numeric"
                else np.array(self.spec.sample[f.name], dtype=object)
            )
            for f in self.spec.features
        }

    def to_dict(self) -> dict[str, Any]:
        return self.spec.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: Any) -> Profile:
        """Rebuild from ``to_dict`` output, validating every field (DataError says what is wrong)."""
        try:
            return cls(ProfileSpec.model_validate(data))
        except ValidationError as exc:
            raise DataError(f"not a valid Driftline profile:\n{exc}") from exc

    def save(self, path: str | Path) -> None:
        """Write the canonical JSON (whose sha256 is ``fingerprint``)."""
        Path(path).write_bytes(canonical_json(self.to_dict()))

    @classmethod
    def load(cls, path: str | Path) -> Profile:
        """Read and validate ``profile.json``; never unpickles."""
        try:
            return cls.from_dict(read_json_artifact(path, "profile file"))
        except (DataError, PreprocessingError) as exc:
            raise DataError(f"{path}: {exc}") from exc


def _quantile_edges(values: np.ndarray, probs: np.ndarray) -> np.ndarray:
    if values.size == 0:
        return np.empty(0, dtype=np.float64)
    edges = np.unique(np.quantile(values, probs))
    return edges[np.isfinite(edges)] + 0.0  # + 0.0 turns -0.0 into 0.0


def _count(codes: np.ndarray, size: int) -> np.ndarray:
    return np.bincount(codes, minlength=size).astype(np.int64, copy=False)


def _numeric_counts(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    codes = np.searchsorted(edges, x, side="right")
    codes[np.isnan(x)] = len(edges) + 1
    return _count(codes, len(edges) + 2)


def _score_counts(scores: np.ndarray, edges: np.ndarray) -> np.ndarray:
    return _count(np.searchsorted(edges, scores, side="right"), len(edges) + 1)


def _checked_scores(scores: np.ndarray, n: int, task: Task, k: int) -> np.ndarray:
    """Binary: the 1-D positive-class probability (``(n, 1)`` and ``(n, 2)`` accepted); multiclass: ``(n, k)``."""
    s = np.asarray(scores, dtype=np.float64)
    if task is Task.BINARY and s.ndim == 2 and s.shape[1] in (1, 2):
        s = s[:, -1]
    expected = (n,) if task is Task.BINARY else (n, k)
    if s.shape != expected:
        raise DataError(f"scores must have shape {expected} for a {task.value} model, found {s.shape}")
    if not np.isfinite(s).all():
        raise DataError("scores must be finite")
    return s


def _predictions(s: np.ndarray, task: Task) -> np.ndarray:
    """Binary: the scores themselves; multiclass: the predicted class (argmax)."""
    return s if task is Task.BINARY else s.argmax(axis=1)


def _confidences(s: np.ndarray, task: Task) -> np.ndarray:
    """The largest class probability of each record (binary: ``max(p, 1 - p)``)."""
    return np.maximum(s, 1.0 - s) if task is Task.BINARY else s.max(axis=1)


def _image_column(feature: Feature) -> ImageColumn:
    height, width, channels = feature.shape
    return ImageColumn(name=feature.name, height=height, width=width, channels=channels,
                       max_pixels=feature.max_pixels or height * width)  # fmt: skip


def _decoded(texts: tuple[float | str | None, ...], image: ImageColumn) -> np.ndarray:
    """The sample's base64 PNG images decoded as a record's would be (object array of uint8 (h, w, c))."""
    feature = Feature(name=image.name, kind=FeatureKind.IMAGE, nullable=False, height=image.height, width=image.width,
                      channels=image.channels, encoding=ImageEncoding.PNG, max_pixels=image.max_pixels)  # fmt: skip
    out = np.empty(len(texts), dtype=object)
    try:
        for i, text in enumerate(texts):
            out[i] = decode_image(text, feature)
    except Invalid as exc:
        raise DataError(f"the profile's sample image {i} does not decode: {exc}") from exc
    return out


def _bins(counts: np.ndarray) -> dict[str, Any]:
    return {"counts": tuple(counts.tolist()), "fractions": tuple((counts / counts.sum()).tolist())}


def _sample(values: np.ndarray, rows: np.ndarray, numeric: bool) -> tuple[float | str | None, ...]:
    picked = np.asarray(values, dtype=np.float64 if numeric else object)[rows]
    if numeric:
        return tuple(None if np.isnan(v) else v for v in picked.tolist())
    return tuple(None if v is None or v != v else str(v) for v in picked.tolist())  # v != v: a stray NaN
