"""Handwritten digits as a stream: scikit-learn's 1,797 digits at MNIST's size, lightly augmented, with drift.

Each record is ``{id, event_time, image}``, the image a base64 PNG (or raw bytes, if the contract says so) of a
28x28 grayscale digit, white ink on black; its label is the digit's class name, ``"0"`` .. ``"9"``. Per record a
seeded draw picks one of the 1,797 digits and moves it a little (a shift of up to 2 px each way, a rotation of up
to 8 degrees), so the stream is not 1,797 exact repeats.

Every random draw is made whether or not a drift is active, so a drifted stream equals the undrifted one with the
same seed on every record before the drift starts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator

import numpy as np

from driftline.contract import Contract, ImageEncoding, builtin_contract
from driftline.errors import DataError
from driftline.images import encode_png, encode_raw
from driftline.sources.base import LabeledRecord, Source, event_times
from driftline.sources.digits import images as px
from driftline.sources.digits.drift import STYLE_SHEAR, ImageDrift, ImageDriftKind, parse_image_drift

logger = logging.getLogger(__name__)

_CHUNK = 1024  # records made per vectorised step; part of what a seed means, so fixed
MAX_SHIFT = 2.0  # pixels, each axis: the augmentation's reach
MAX_ROTATION = 8.0  # degrees
CLASSES = tuple(str(d) for d in range(10))


class DigitsSource(Source):
    """A seeded, endless (or ``n_records`` long) stream of handwritten digits; ids ``dig-<seed>-<index>``.

    ``drift`` takes ImageDrifts or their compact text (see :mod:`driftline.sources.digits.drift`), e.g.
    ``DigitsSource(seed=1, drift="rotation:45@5000;noise:60@8000..9000")``. Event time of record i is
    ``start_ms + i * interval_ms``.
    """

    def __init__(
        self,
        *,
        seed: int = 7,
        drift: str | Iterable[ImageDrift | str] | None = None,
        start_ms: int = 1_704_067_200_000,  # 2024-01-01T00:00:00Z
        interval_ms: int = 10,
        n_records: int | None = None,
        contract: Contract | None = None,
    ) -> None:
        if seed < 0:
            raise ValueError(f"seed must be >= 0, found {seed}")
        if n_records is not None and n_records < 0:
            raise ValueError(f"n_records must be >= 0 or None, found {n_records}")
        self.seed, self.start_ms, self.interval_ms, self.n_records = seed, start_ms, interval_ms, n_records
        self.drift = parse_image_drift(drift)
        self._contract = contract if contract is not None else builtin_contract("digits")
        self._encode = self._check_fit()
        self._images, self._digits = px.load_digits_28()  # once per source: every records() call reuses them

    @property
    def contract(self) -> Contract:
        return self._contract

    def __repr__(self) -> str:
        drift = ";".join(str(d) for d in self.drift)
        return f"DigitsSource(seed={self.seed}, drift={drift!r})"

    def records(self) -> Iterator[LabeledRecord]:
        c = self._contract
        keys = (c.id_field, c.event_time_field, c.features[0].name)
        prefix, encode = f"dig-{self.seed}-", self._encode
        for start, stack, digits in self._chunks():
            index = np.arange(start, start + len(stack), dtype=np.int64)
            times = event_times(self.start_ms + index * self.interval_ms, c)
            for i, when, image, digit in zip(index.tolist(), times, stack, digits.tolist(), strict=True):
                yield LabeledRecord(dict(zip(keys, (prefix + str(i), when, encode(image)), strict=True)),
                                    CLASSES[digit])  # fmt: skip

    def pixels(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The first ``n`` records' images, ``uint8 (n, 28, 28)``, and their digits (``int64``), not encoded."""
        stacks, digits = [np.zeros((0, px.SIZE, px.SIZE), dtype=np.uint8)], [np.zeros(0, dtype=np.int64)]
        for start, stack, digit in self._chunks():
            if start >= n:
                break
            stacks.append(stack)
            digits.append(digit)
        return np.concatenate(stacks)[:n], np.concatenate(digits)[:n]

    # -- internals ----------------------------------------------------------------------------------------

    def _chunks(self) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """(first index, images, digits) per chunk, from the first record, cut at ``n_records``."""
        rng = np.random.default_rng(self.seed)
        drift_rngs = [np.random.default_rng([self.seed, k + 1]) for k in range(len(self.drift))]
        start = 0
        while self.n_records is None or start < self.n_records:
            stack, digits = self._draw(rng, drift_rngs, start)
            if self.n_records is not None and start + _CHUNK > self.n_records:
                stack, digits = stack[: self.n_records - start], digits[: self.n_records - start]
            yield start, stack, digits
            start += _CHUNK

    def _check_fit(self) -> Callable[[np.ndarray], str]:
        """Fail early, naming the problem, when the contract cannot describe these records; its image encoder."""
        c = self._contract
        feature = c.image
        if feature is None:
            raise DataError(f"contract {c.name!r} has no image feature; the digits scenario emits one")
        if feature.shape != (px.SIZE, px.SIZE, 1):
            raise DataError(
                f"contract {c.name!r}: the digits scenario emits {px.SIZE}x{px.SIZE}x1 images, "
                f"found {'x'.join(map(str, feature.shape))}"
            )
        if tuple(c.label.classes) != CLASSES:
            raise DataError(f"contract {c.name!r}: digit labels are {list(CLASSES)}, found {list(c.label.classes)}")
        return encode_png if feature.encoding is ImageEncoding.PNG else encode_raw

    def _draw(
        self, rng: np.random.Generator, drift_rngs: list[np.random.Generator], start: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """One chunk's images (drift applied) and digits."""
        n, images = _CHUNK, self._images
        pick = rng.integers(0, len(images), n)
        degrees = rng.uniform(-MAX_ROTATION, MAX_ROTATION, n)
        shift = rng.uniform(-MAX_SHIFT, MAX_SHIFT, (n, 2))
        noise = [drng.standard_normal((n, px.SIZE, px.SIZE), dtype=np.float32) if d.kind is ImageDriftKind.NOISE
                 else None for d, drng in zip(self.drift, drift_rngs, strict=True)]  # fmt: skip
        index = np.arange(start, start + n, dtype=np.int64)
        active = [(index >= d.start) if d.end is None else (index >= d.start) & (index < d.end) for d in self.drift]
        shear = np.zeros(n)
        for d, on in zip(self.drift, active, strict=True):
            if d.kind is ImageDriftKind.ROTATION:
                degrees = degrees + np.where(on, d.amount, 0.0)
            elif d.kind is ImageDriftKind.STYLE:
                shear = shear + np.where(on, STYLE_SHEAR, 0.0)
        stack = px.warp(images[pick], degrees, shear, shift)
        for d, on, normal in zip(self.drift, active, noise, strict=True):
            if not on.any():
                continue
            if d.kind is ImageDriftKind.THICKNESS:
                stack[on] = px.dilate(stack[on], int(d.amount))
            elif d.kind is ImageDriftKind.STYLE:
                stack[on] = px.thin(stack[on])
            elif d.kind is ImageDriftKind.INVERSION:
                stack[on] = px.invert(stack[on])
            elif d.kind is ImageDriftKind.NOISE and normal is not None:
                stack[on] = px.add_noise(stack[on], normal[on], d.amount)
        return stack, self._digits[pick]
