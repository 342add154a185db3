"""What ``preprocessing.json`` holds: the fit options and the fitted parameters of every feature, validated."""

from __future__ import annotations

from typing import Annotated, Final, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

UNKNOWN = "__unknown__"
MISSING = "__missing__"
FORMAT: Final = "driftline.preprocessing"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class NumericEncoding(_Frozen):
    """Expand every numeric feature over ``bins`` training-quantile bins, beside its scaled column (see
    :mod:`driftline.preprocessing.encodings`)."""

    kind: Literal["piecewise_linear", "quantile_onehot"] = "piecewise_linear"
    bins: int = Field(16, ge=1, le=256, description="bins asked for; repeated quantiles are merged")


def _absent(value: object) -> bool:
    return value is None


class PreprocessingOptions(_Frozen):
    """How to fit. ``categorical_missing``: ``most_frequent`` (the default: DESIGN says "imputed and counted")
    imputes the training mode, ties broken by category order; ``category`` adds a ``__missing__`` bucket.
    Missing counts are reported either way. ``numeric_encoding`` (none by default) adds binned columns per
    numeric feature; when absent it is left out of the JSON, so artifacts written without it keep their bytes."""

    numeric_impute: Literal["median", "mean", "constant"] = "median"
    fill_value: float = 0.0
    scaling: Literal["standard", "minmax", "none"] = "standard"
    encoding: Literal["onehot", "index"] = "onehot"
    categorical_missing: Literal["most_frequent", "category"] = "most_frequent"
    numeric_encoding: NumericEncoding | None = Field(None, exclude_if=_absent)


class NumericParams(_Frozen):
    name: str = Field(min_length=1)
    kind: Literal["numeric"] = "numeric"
    impute: float
    center: float
    scale: float = Field(gt=0)
    edges: tuple[float, ...] | None = Field(
        None, exclude_if=_absent, description="bin edges of the numeric encoding, in the feature's units"
    )

    @model_validator(mode="after")
    def _check(self) -> NumericParams:
        if self.edges is not None and (not self.edges or any(np.diff(self.edges) <= 0)):
            raise ValueError(f"feature {self.name!r}: edges must be one or more strictly increasing numbers")
        return self


class CategoricalParams(_Frozen):
    name: str = Field(min_length=1)
    kind: Literal["categorical"] = "categorical"
    categories: tuple[str, ...] = Field(min_length=1)
    impute: str | None = Field(description="the training mode under most_frequent; null under category")

    @model_validator(mode="after")
    def _check(self) -> CategoricalParams:
        if len(set(self.categories)) != len(self.categories):
            raise ValueError(f"feature {self.name!r}: categories repeat")
        if {UNKNOWN, MISSING} & set(self.categories):
            raise ValueError(f"feature {self.name!r}: {UNKNOWN} and {MISSING} are reserved")
        if self.impute is not None and self.impute not in self.categories:
            raise ValueError(f"feature {self.name!r}: impute value {self.impute!r} is not a category")
        return self


class ImageParams(_Frozen):
    """An image feature: the size every image is resized to (Pillow bilinear, only when it differs), and the
    divisor that brings ``uint8`` pixels to ``[0, 1]``."""

    name: str = Field(min_length=1)
    kind: Literal["image"] = "image"
    height: int = Field(ge=1, le=4096)
    width: int = Field(ge=1, le=4096)
    channels: Literal[1, 3]
    scale: float = Field(255.0, gt=0)


class PreprocessorSpec(_Frozen):
    """The whole of ``preprocessing.json``."""

    format: Literal["driftline.preprocessing"] = FORMAT
    version: Literal[1] = 1
    contract: str
    options: PreprocessingOptions
    features: tuple[
        Annotated[NumericParams | CategoricalParams | ImageParams, Field(discriminator="kind")], ...
    ] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> PreprocessorSpec:
        names = [f.name for f in self.features]
        if len(set(names)) != len(names):
            raise ValueError(f"feature names repeat: {names}")
        if len(names) > 1 and any(isinstance(f, ImageParams) for f in self.features):
            raise ValueError(f"an image feature must be the only feature, found {names}")
        most_frequent = self.options.categorical_missing == "most_frequent"
        encoded = self.options.numeric_encoding is not None
        for f in self.features:
            if isinstance(f, CategoricalParams) and (f.impute is not None) != most_frequent:
                raise ValueError(f"feature {f.name!r}: impute must be set exactly under most_frequent")
            if isinstance(f, NumericParams) and (f.edges is not None) != encoded:
                raise ValueError(f"feature {f.name!r}: edges must be set exactly under a numeric_encoding")
        return self
