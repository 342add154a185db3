"""Golden records: raw records that exercise every branch of the preprocessing, with the Keras model's outputs.

A release writes them as ``golden.json`` (DESIGN section 7): typical rows from the reference sample; for each
numeric feature a null, its declared bounds, values far outside the training range and every bin edge of its
encoding; for each categorical feature a null, an unseen category and every known one; and a record with every
nullable feature null. An image contract's cases are images (see :func:`image_cases`): a few from the reference
sample, all black, all white, one smaller and one larger than the fitted size (each resize branch), one stretched
in width, and salt-and-pepper noise, each carried as the contract's encoding says. Their expected outputs come
from the Keras model itself (the trainer's ``tf.function``), the source of truth. A worker feeds the same bytes
through its whole serving path (validation, persisted preprocessing, the LiteRT flatbuffer) and serves the version
only if every output is within ``tolerance``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from driftline.contract import Contract, Feature, ImageEncoding
from driftline.errors import IntegrityError
from driftline.images import encode_png, encode_raw
from driftline.preprocessing import ImageParams, Preprocessor
from driftline.preprocessing.pixels import resized
from driftline.profile import Profile
from driftline.validation import Validator

__all__ = ["GOLDEN_FILE", "TOLERANCE", "Golden", "golden_records", "image_cases"]

GOLDEN_FILE = "golden.json"
# Absolute, on probabilities. LiteRT's kernels sum in another order than TensorFlow's, which moves float32
# outputs by a few units in the last place; a different model or preprocessing moves them by far more.
TOLERANCE = 1e-5
_FORMAT = 1
_EVENT_TIME_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z: any valid time; drift bins do not see it
_REFERENCE_ROWS = 32
_FAR = 10.0  # "far outside the training range": this many training ranges beyond it
_UNSEEN = "__golden_unseen__"
_REFERENCE_IMAGES = 8  # base64 images are large: a few typical ones, beside the edge cases
_NOISE = 0.1  # the share of pixels salt-and-pepper sets to black or white

Predict = Callable[[Mapping[str, np.ndarray]], np.ndarray]


def golden_records(
    contract: Contract, preprocessor: Preprocessor, profile: Profile
) -> list[tuple[str, dict[str, Any]]]:
    """(case name, raw record) pairs covering every branch of ``preprocessor`` for ``contract``'s features."""
    image = contract.image
    if image is not None:  # a case too large for a record (a larger image of a large contract) is left out
        pictures = _with_envelope(contract, image_cases(image, profile))
        return [(name, r) for name, r in pictures if len(orjson.dumps(r)) <= contract.max_record_bytes]
    sample = profile.spec.sample
    n = len(next(iter(sample.values()))) if sample else 0
    if n == 0:
        raise IntegrityError("golden records need the profile's reference sample, found an empty one")
    edges = {p.name: p.edges or () for p in preprocessor.spec.features if p.kind == "numeric"}
    features = [f.name for f in contract.features]
    # the base row: the first sample row without a null, so each case changes exactly one thing
    base_index = next((i for i in range(n) if all(sample[f][i] is not None for f in features)), 0)
    base = {f: sample[f][base_index] for f in features}
    cases: list[tuple[str, dict[str, Any]]] = [
        (f"reference[{i}]", {f: sample[f][i] for f in features}) for i in range(min(_REFERENCE_ROWS, n))
    ]

    def case(name: str, **values: Any) -> None:
        cases.append((name, {**base, **values}))

    for feature in contract.features:
        name = feature.name
        if feature.nullable:
            case(f"{name}=null", **{name: None})
        if feature.is_numeric:
            seen = [float(v) for v in sample[name] if v is not None]
            low, high = (min(seen), max(seen)) if seen else (0.0, 1.0)
            span = (high - low) or 1.0
            floor = -math.inf if feature.min is None else feature.min
            ceiling = math.inf if feature.max is None else feature.max
            for label, value in (("min", feature.min), ("max", feature.max),
                                 ("far_below", max(low - _FAR * span, floor)),
                                 ("far_above", min(high + _FAR * span, ceiling))):  # fmt: skip
                if value is not None:
                    case(f"{name}={label}", **{name: float(value)})
            for j, edge in enumerate(edges[name]):  # training values: inside the bounds
                case(f"{name}=edge[{j}]", **{name: float(edge)})
        else:
            case(f"{name}=unseen", **{name: _UNSEEN})
            for category in preprocessor.categories(name):
                case(f"{name}={category}", **{name: category})
    nullable = {f.name: None for f in contract.features if f.nullable}
    if len(nullable) > 1:
        case("all_nullable=null", **nullable)
    return _with_envelope(contract, cases)


def image_cases(feature: Feature, profile: Profile) -> list[tuple[str, dict[str, Any]]]:
    """An image feature's golden cases as (name, {feature: encoded image}): images of the reference sample,
    all black, all white, smaller and larger than the fitted size, stretched, and salt-and-pepper noise. A raw
    encoding carries the fitted size only, so it gets no resized cases."""
    images = list(profile.sample_columns().get(feature.name, ()))
    if not images:
        raise IntegrityError("golden records need the profile's reference sample, found an empty one")
    height, width, channels = feature.shape
    base = images[0]
    if base.shape != (height, width, channels):  # the sample keeps images as they arrived
        base = resized(base, ImageParams(name=feature.name, height=height, width=width, channels=channels))
    pictures: list[tuple[str, np.ndarray]] = [(f"reference[{i}]", a) for i, a in enumerate(images[:_REFERENCE_IMAGES])]
    pictures += [("black", np.zeros_like(base)), ("white", np.full_like(base, 255))]
    rng = np.random.default_rng(0)
    noisy = base.copy()
    hit = rng.random(base.shape[:2]) < _NOISE
    noisy[hit] = rng.choice(np.array([0, 255], dtype=np.uint8), size=(int(hit.sum()), 1))
    pictures.append(("salt_and_pepper", noisy))
    if feature.encoding is ImageEncoding.PNG:
        limit = feature.max_pixels or height * width
        pictures.append(("smaller", base[::2, ::2]))  # resized up
        if 4 * height * width <= limit:
            pictures.append(("larger", np.repeat(np.repeat(base, 2, axis=0), 2, axis=1)))  # resized down
            pictures.append(("stretched", np.repeat(base, 2, axis=1)))  # resized in width only
        elif (height + 1) * width <= limit:
            pictures.append(("larger", np.pad(base, ((0, 1), (0, 0), (0, 0)), mode="edge")))
    encode = encode_png if feature.encoding is ImageEncoding.PNG else encode_raw
    return [(name, {feature.name: encode(pixels)}) for name, pixels in pictures]


def _with_envelope(contract: Contract, cases: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """Each case's features in a whole record: a distinct id and a valid event time."""
    return [
        (name, {contract.id_field: f"golden-{i}", contract.event_time_field: _EVENT_TIME_MS, **values})
        for i, (name, values) in enumerate(cases)
    ]


@dataclass(frozen=True)
class Golden:
    """Golden records and the outputs the Keras model gave for them (binary: ``(n,)``; multiclass ``(n, k)``)."""

    cases: tuple[str, ...]
    records: tuple[bytes, ...]  # each record's JSON, exactly as the stream would carry it
    expected: np.ndarray
    tolerance: float = TOLERANCE

    @classmethod
    def build(cls, contract: Contract, preprocessor: Preprocessor, profile: Profile, reference: Predict) -> Golden:
        """The golden records of a model; ``reference`` maps a batch's columns to the Keras model's outputs."""
        pairs = golden_records(contract, preprocessor, profile)
        cases, records = tuple(n for n, _ in pairs), tuple(orjson.dumps(r) for _, r in pairs)
        expected = np.asarray(reference(_validated(Validator(contract), cases, records)), dtype=np.float64)
        return cls(cases, records, expected)

    def verify(self, validator: Validator, predict: Predict) -> float:
        """Run the records through ``predict`` (the serving path); the largest difference from the expected
        outputs, or IntegrityError naming the worst case when it is above the tolerance."""
        got = np.asarray(predict(_validated(validator, self.cases, self.records)), dtype=np.float64)
        if got.shape != self.expected.shape:
            raise IntegrityError(
                f"golden records: the served model gives outputs of shape {got.shape}, the Keras model gave "
                f"{self.expected.shape}"
            )
        gaps = np.abs(got - self.expected).reshape(len(self.cases), -1).max(axis=1)
        gaps[~np.isfinite(gaps)] = np.inf
        worst = int(np.argmax(gaps))
        if not gaps[worst] <= self.tolerance:
            raise IntegrityError(
                f"golden records: the served model differs from the Keras model by {gaps[worst]:.3g} on case "
                f"{self.cases[worst]!r} (tolerance {self.tolerance:g}); {int((gaps > self.tolerance).sum())} of "
                f"{len(self.cases)} cases differ"
            )
        return float(gaps[worst])

    def to_dict(self) -> dict[str, Any]:
        expected = self.expected.reshape(len(self.cases), -1).tolist()
        rows = zip(self.cases, self.records, expected, strict=True)
        cases = [{"case": c, "record": orjson.loads(r), "expected": e} for c, r, e in rows]
        return {"format": _FORMAT, "tolerance": self.tolerance, "cases": cases}

    @classmethod
    def from_dict(cls, data: Any) -> Golden:
        try:
            if data["format"] != _FORMAT:
                raise IntegrityError(f"golden.json has format {data['format']!r}, expected {_FORMAT}")
            entries = data["cases"]
            expected = np.array([e["expected"] for e in entries], dtype=np.float64)
            if expected.ndim != 2 or not len(entries):
                raise ValueError(f"expected a non-empty list of equally long output lists, found {expected.shape}")
            return cls(
                cases=tuple(str(e["case"]) for e in entries),
                records=tuple(orjson.dumps(e["record"]) for e in entries),
                expected=expected[:, 0] if expected.shape[1] == 1 else expected,
                tolerance=float(data["tolerance"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise IntegrityError(f"golden.json cannot be read: {exc!r}") from exc

    def save(self, path: str | Path) -> None:
        Path(path).write_bytes(orjson.dumps(self.to_dict(), option=orjson.OPT_INDENT_2))

    @classmethod
    def load(cls, path: str | Path) -> Golden:
        try:
            data = orjson.loads(Path(path).read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            raise IntegrityError(f"golden.json cannot be read: {exc}") from exc
        return cls.from_dict(data)


def _validated(validator: Validator, cases: tuple[str, ...], records: tuple[bytes, ...]) -> Mapping[str, np.ndarray]:
    """The records validated as the stream would; IntegrityError if the contract rejects any of them."""
    batch, rejections = validator.validate_batch(list(records))
    if rejections:
        first = rejections[0]
        raise IntegrityError(
            f"golden record {cases[first.index]!r} is rejected by the contract: {first.reason}: {first.error}"
        )
    return batch.columns
