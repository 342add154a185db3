"""What ``profile.json`` holds (DESIGN section 6): reference bins and fractions per feature and the prediction.

Bins, in the order of every count vector:

- numeric: inner ``edges`` are the deduplicated training deciles (``np.quantile``, linear); bin ``i`` holds
  ``edges[i-1] <= x < edges[i]`` with ``-inf``/``+inf`` outer bins, so ``len(edges) + 1`` value bins, then one
  missing bin (NaN);
- categorical: the fixed training categories (the preprocessor's set), then ``__unknown__``, ``__missing__``;
- prediction, binary (1-D positive-class probabilities): deciles of the reference scores, binned like a
  numeric feature without the missing bin; multiclass (``(n, k)`` probabilities): a categorical histogram of
  the predicted class (argmax), one bin per class in the contract's class order;
- image (a contract whose one feature is an image): no bins of its own; its per-image statistics
  (:mod:`driftline.profile.image_stats`) are binned as numeric features named ``<image>.<statistic>``, and
  ``image`` names the column they come from;
- confidence (``CONFIDENCE``, optional: profiles written before it have none): the deciles of the reference
  confidences, the largest class probability (binary: ``max(p, 1 - p)``), binned like the binary prediction.

A small seeded reference sample of raw column values (null for missing; an image as base64 PNG text) rides along
for model warm-up.
"""

from __future__ import annotations

import itertools
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from driftline.preprocessing import MISSING, UNKNOWN
from driftline.profile.image_stats import statistic_names

PREDICTION = "__prediction__"  # the key of the prediction's count vector, beside the feature names
CONFIDENCE = "__confidence__"  # the key of the confidence's count vector
FORMAT: Final = "driftline.profile"


def _absent(value: object) -> bool:
    return value is None


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class _Bins(_Frozen):
    counts: tuple[int, ...]
    fractions: tuple[float, ...]

    def _expect(self, size: int, what: str, edges: tuple[float, ...] = ()) -> None:
        if len(self.counts) != size or len(self.fractions) != size:
            raise ValueError(f"{what}: expected {size} counts and fractions, found {len(self.counts)}")
        if min(self.counts) < 0 or min(self.fractions) < 0 or abs(sum(self.fractions) - 1.0) > 1e-9:
            raise ValueError(f"{what}: counts must be >= 0 and fractions sum to 1")
        if any(b <= a for a, b in itertools.pairwise(edges)):
            raise ValueError(f"{what}: edges must increase strictly")


class NumericBins(_Bins):
    name: str
    kind: Literal["numeric"] = "numeric"
    edges: tuple[float, ...]

    @model_validator(mode="after")
    def _check(self) -> NumericBins:
        self._expect(len(self.edges) + 2, self.name, self.edges)
        return self


class CategoricalBins(_Bins):
    name: str
    kind: Literal["categorical"] = "categorical"
    categories: tuple[str, ...]

    @model_validator(mode="after")
    def _check(self) -> CategoricalBins:
        if len(set(self.categories)) != len(self.categories) or {UNKNOWN, MISSING} & set(self.categories):
            raise ValueError(f"{self.name}: categories must be distinct and not reserved names")
        self._expect(len(self.categories) + 2, self.name)
        return self


class PredictionBins(_Bins):
    """``probability``: ``edges`` over binary scores; ``class``: one bin per class in ``classes``."""

    kind: Literal["probability", "class"]
    edges: tuple[float, ...] = ()
    classes: tuple[int | str, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> PredictionBins:
        size = len(self.edges) + 1 if self.kind == "probability" else len(self.classes)
        if (self.kind == "probability" and self.classes) or (self.kind == "class" and self.edges):
            raise ValueError(f"{PREDICTION}: edges go with probability, classes with class")
        self._expect(size, PREDICTION, self.edges)
        return self


class ConfidenceBins(_Bins):
    """The reference confidences (largest class probability) in ``len(edges) + 1`` bins."""

    edges: tuple[float, ...]

    @model_validator(mode="after")
    def _check(self) -> ConfidenceBins:
        self._expect(len(self.edges) + 1, CONFIDENCE, self.edges)
        return self


class ImageColumn(_Frozen):
    """The image feature whose statistics the profile bins: its name, and what its sample images decode against."""

    name: str = Field(min_length=1)
    height: int = Field(ge=1)
    width: int = Field(ge=1)
    channels: Literal[1, 3]
    max_pixels: int = Field(ge=1)


class ProfileSpec(_Frozen):
    """The whole of ``profile.json``."""

    format: Literal["driftline.profile"] = FORMAT
    version: Literal[1] = 1
    contract: str
    rows: int = Field(gt=0)
    preprocessing_fingerprint: str | None = None
    features: tuple[Annotated[NumericBins | CategoricalBins, Field(discriminator="kind")], ...]
    prediction: PredictionBins
    confidence: ConfidenceBins | None = Field(None, exclude_if=_absent)
    image: ImageColumn | None = Field(None, exclude_if=_absent)
    sample: dict[str, tuple[float | str | None, ...]]

    @model_validator(mode="after")
    def _check(self) -> ProfileSpec:
        names = [f.name for f in self.features]
        if len(set(names)) != len(names) or {PREDICTION, CONFIDENCE} & set(names):
            raise ValueError(f"feature names must be distinct and not {PREDICTION!r} or {CONFIDENCE!r}: {names}")
        columns = [self.image.name] if self.image else names
        if sorted(self.sample) != sorted(columns) or len({len(v) for v in self.sample.values()}) > 1:
            raise ValueError("sample must hold one equally long column per feature")
        if self.image:
            expected = statistic_names(self.image.name)
            if tuple(names) != expected or any(f.kind != "numeric" for f in self.features):
                raise ValueError(f"an image profile bins the numeric statistics {list(expected)}, found {names}")
            if not all(isinstance(v, str) for v in self.sample[self.image.name]):
                raise ValueError(f"sample of image feature {self.image.name!r} must hold base64 PNG text")
            return self
        for f in self.features:
            kind = float if f.kind == "numeric" else str
            if not all(v is None or isinstance(v, kind) for v in self.sample[f.name]):
                raise ValueError(f"sample of {f.kind} feature {f.name!r} must hold {kind.__name__} or null")
        return self
