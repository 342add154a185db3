"""The data contract: which fields a record has, their kinds and limits (DESIGN section 2).

A contract is YAML on disk and a frozen pydantic model in memory::

    name: agrawal
    id_field: id
    event_time_field: event_time
    label: {name: label, task: binary, classes: [0, 1]}
    features:
      - {name: salary, kind: numeric, min: 0}
      - {name: elevel, kind: categorical, categories: ["0", "1", "2", "3", "4"]}
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from driftline.errors import ContractError


class FeatureKind(StrEnum):
    NUMERIC = "numeric"
    CATEGORICAL = "categorical"
    IMAGE = "image"


class ImageEncoding(StrEnum):
    """How an image travels in a JSON record: base64 of a PNG file, or base64 of ``height*width*channels`` raw
    uint8 bytes in row-major (height, width, channel) order."""

    PNG = "png"
    RAW = "raw"


class Task(StrEnum):
    BINARY = "binary"
    MULTICLASS = "multiclass"


def _absent(value: object) -> bool:
    return value is None


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Feature(_Frozen):
    """One input column. Categorical values are strings on the wire and in memory."""

    name: str = Field(min_length=1)
    kind: FeatureKind
    nullable: bool = True
    min: float | None = None
    max: float | None = None
    categories: tuple[str, ...] | None = Field(
        None, description="declared categories; the fitted set comes from training data when absent"
    )
    height: int | None = Field(
        None, ge=1, le=4096, exclude_if=_absent, description="image: rows the model sees (images are resized)"
    )
    width: int | None = Field(None, ge=1, le=4096, exclude_if=_absent, description="image: columns the model sees")
    channels: Literal[1, 3] | None = Field(
        None, exclude_if=_absent, description="image: 1 (grayscale) or 3 (RGB); others are refused"
    )
    encoding: ImageEncoding | None = Field(
        None, exclude_if=_absent, description="image: png (base64 PNG) or raw (base64 uint8)"
    )
    max_pixels: int | None = Field(
        None,
        ge=1,
        exclude_if=_absent,
        description="image: largest height*width accepted before decoding (decompression bombs)",
    )

    @model_validator(mode="before")
    @classmethod
    def _image_defaults(cls, data: Any) -> Any:
        """An image feature's encoding defaults to png, its pixel limit to max(1e6, 4 * height * width)."""
        if isinstance(data, dict) and data.get("kind") == FeatureKind.IMAGE.value:
            data = {"encoding": ImageEncoding.PNG.value, **data}
            height, width = data.get("height"), data.get("width")
            if "max_pixels" not in data and isinstance(height, int) and isinstance(width, int):
                data["max_pixels"] = max(1_000_000, 4 * height * width)
        return data

    @model_validator(mode="after")
    def _check(self) -> Feature:
        image_fields = {"height": self.height, "width": self.width, "channels": self.channels,
                        "encoding": self.encoding, "max_pixels": self.max_pixels}  # fmt: skip
        if self.kind is FeatureKind.IMAGE:
            absent = [k for k in ("height", "width", "channels") if image_fields[k] is None]
            if absent:
                raise ValueError(f"image feature {self.name!r} needs {absent}")
            if self.min is not None or self.max is not None or self.categories is not None:
                raise ValueError(f"image feature {self.name!r}: min, max and categories are for other kinds")
            if self.nullable:
                raise ValueError(f"image feature {self.name!r} must be nullable: false (a model needs a picture)")
            return self
        present = sorted(k for k, v in image_fields.items() if v is not None)
        if present:
            raise ValueError(f"feature {self.name!r}: {present} are for image features")
        if self.kind is FeatureKind.CATEGORICAL and (self.min is not None or self.max is not None):
            raise ValueError(f"feature {self.name!r}: bounds are for numeric features, found on a categorical one")
        if self.kind is FeatureKind.NUMERIC and self.categories is not None:
            raise ValueError(f"feature {self.name!r}: categories are for categorical features")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"feature {self.name!r}: min {self.min} is above max {self.max}")
        return self

    @property
    def is_numeric(self) -> bool:
        return self.kind is FeatureKind.NUMERIC

    @property
    def is_image(self) -> bool:
        return self.kind is FeatureKind.IMAGE

    @property
    def shape(self) -> tuple[int, int, int]:
        """An image feature's (height, width, channels)."""
        if self.height is None or self.width is None or self.channels is None:
            raise ContractError(f"feature {self.name!r} is {self.kind.value}, not an image")
        return self.height, self.width, self.channels


class Label(_Frozen):
    """The target: its field name, task, and the classes in model output order."""

    name: str = "label"
    task: Task = Task.BINARY
    classes: tuple[int | str, ...] = (0, 1)

    @model_validator(mode="after")
    def _check(self) -> Label:
        if len(set(self.classes)) != len(self.classes):
            raise ValueError(f"label classes must be distinct, found {list(self.classes)}")
        if self.task is Task.BINARY and len(self.classes) != 2:
            raise ValueError(f"a binary label has 2 classes, found {len(self.classes)}")
        if self.task is Task.MULTICLASS and len(self.classes) < 3:
            raise ValueError(f"a multiclass label has at least 3 classes, found {len(self.classes)}")
        return self


class Contract(_Frozen):
    """What a record on ``driftline.records`` must look like."""

    name: str = Field(min_length=1)
    id_field: str = "id"
    event_time_field: str = "event_time"
    event_time_format: Literal["epoch_ms", "iso8601"] = "epoch_ms"
    label: Label = Label()
    features: tuple[Feature, ...] = Field(min_length=1)
    max_record_bytes: int = Field(64 * 1024, ge=64)
    max_id_bytes: int = Field(256, ge=1, description="longest id (UTF-8 bytes): it becomes a Redis key")

    @model_validator(mode="after")
    def _check(self) -> Contract:
        names = [f.name for f in self.features]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"feature names must be unique, repeated: {duplicates}")
        reserved = {self.id_field, self.event_time_field, self.label.name}
        if len(reserved) != 3:
            raise ValueError("id_field, event_time_field and label name must differ")
        clash = sorted(reserved.intersection(names))
        if clash:
            raise ValueError(f"feature names clash with id/event time/label fields: {clash}")
        if any(f.is_image for f in self.features) and len(self.features) != 1:
            raise ValueError("a contract with an image feature has that one feature only (the model is a CNN)")
        return self

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    @property
    def numeric(self) -> tuple[Feature, ...]:
        return tuple(f for f in self.features if f.kind is FeatureKind.NUMERIC)

    @property
    def categorical(self) -> tuple[Feature, ...]:
        return tuple(f for f in self.features if f.kind is FeatureKind.CATEGORICAL)

    @property
    def image(self) -> Feature | None:
        """The image feature of an image contract (its only feature), else None."""
        return self.features[0] if self.features[0].is_image else None

    def feature(self, name: str) -> Feature:
        for f in self.features:
            if f.name == name:
                return f
        raise ContractError(f"contract {self.name!r} has no feature {name!r}; it has {list(self.feature_names)}")

    @classmethod
    def from_yaml(cls, path: str | Path) -> Contract:
        """Load and check a contract file; errors name the file and the field."""
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ContractError(f"contract file not found: {path}") from exc
        except yaml.YAMLError as exc:
            raise ContractError(f"contract {path} is not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise ContractError(f"contract {path} must be a mapping, found {type(data).__name__}")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ContractError(f"contract {path} is invalid:\n{exc}") from exc

    def to_yaml(self, path: str | Path) -> None:
        Path(path).write_text(yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False), encoding="utf-8")


def builtin_contract(name: str = "agrawal") -> Contract:
    """A contract shipped with Driftline (``driftline/scenarios/<name>.yaml``)."""
    path = Path(__file__).parent / "scenarios" / f"{name}.yaml"
    if not path.exists():
        known: Sequence[str] = sorted(p.stem for p in path.parent.glob("*.yaml"))
        raise ContractError(f"no built-in contract {name!r}; known: {list(known)}")
    return Contract.from_yaml(path)
