"""Drift the digits scenario switches on at a record index: how the pictures change, and from when.

The compact text form of :mod:`driftline.sources.drift`, without a feature (there is one, the image)::

    KIND[:PARAMS]@START[..END]

    rotation:45@5000           every digit turned a further 45 degrees from record 5000 on
    thickness:2@5000           strokes thickened by 2 pixels (dilation)
    inversion@5000             black ink on white: 255 - x
    noise:60@5000..8000        Gaussian pixel noise of sigma 60 intensity units, for records [5000, 8000)
    style@5000                 another writer: a fixed slant and thinner strokes

Main parameters (a bare value, or ``name=value``): rotation → ``degrees``, thickness → ``pixels``, noise →
``sigma``; inversion and style take none. ``END`` is exclusive; without it the drift lasts to the end.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from driftline.sources.drift import check_window, split_window


class ImageDriftKind(StrEnum):
    ROTATION = "rotation"  # the digits turn
    THICKNESS = "thickness"  # the pen gets broader
    INVERSION = "inversion"  # dark ink on light paper
    NOISE = "noise"  # a noisy sensor
    STYLE = "style"  # a new writer: slanted, thinner strokes


_PARAM = {ImageDriftKind.ROTATION: "degrees", ImageDriftKind.THICKNESS: "pixels", ImageDriftKind.NOISE: "sigma"}
_DEFAULT = {ImageDriftKind.ROTATION: 45.0, ImageDriftKind.THICKNESS: 2.0, ImageDriftKind.NOISE: 60.0}
STYLE_SHEAR = 0.4  # the new writer's slant: the top of a digit leans right by 0.4 px per row above the centre


@dataclass(frozen=True)
class ImageDrift:
    """One image drift, active for record indices in ``[start, end)`` (``end=None``: forever). ``amount`` is the
    kind's parameter: degrees (rotation), pixels (thickness, a whole number 1..4), sigma (noise); 0 for the others."""

    kind: ImageDriftKind
    start: int
    end: int | None = None
    amount: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", ImageDriftKind(self.kind))
        check_window(self.start, self.end)
        if not math.isfinite(self.amount):
            raise ValueError(f"{self.kind.value} expects a finite number, found {self.amount}")
        if self.kind is ImageDriftKind.ROTATION and not (0 < abs(self.amount) <= 180):
            raise ValueError(f"rotation expects degrees in [-180, 180] other than 0, found {self.amount:g}")
        if self.kind is ImageDriftKind.THICKNESS and self.amount not in (1, 2, 3, 4):
            raise ValueError(f"thickness expects whole pixels 1..4, found {self.amount:g}")
        if self.kind is ImageDriftKind.NOISE and not (0 < self.amount <= 255):
            raise ValueError(f"noise expects sigma in (0, 255] intensity units, found {self.amount:g}")
        if self.kind not in _PARAM and self.amount != 0:
            raise ValueError(f"{self.kind.value} takes no parameter, found {self.amount:g}")

    def active(self, index: int) -> bool:
        return self.start <= index and (self.end is None or index < self.end)

    @classmethod
    def parse(cls, text: str) -> ImageDrift:
        """Read one spec in the compact form (module docstring); errors quote the text and the form."""
        try:
            return cls._parse(text.strip())
        except (ValueError, KeyError) as exc:
            raise ValueError(
                f"bad drift spec {text!r}: {exc}; expected KIND[:PARAMS]@START[..END], "
                f"kinds {[k.value for k in ImageDriftKind]}"
            ) from None

    @classmethod
    def _parse(cls, text: str) -> ImageDrift:
        body, start, end = split_window(text)
        kind_text, colon, rest = body.partition(":")
        kind = ImageDriftKind(kind_text.strip())
        if not colon:
            return cls(kind=kind, start=start, end=end, amount=_DEFAULT.get(kind, 0.0))
        if kind not in _PARAM:
            raise ValueError(f"{kind.value} takes no parameter, found {rest!r}")
        key, eq, value = rest.partition("=")
        key, value = (key.strip(), value.strip()) if eq else (_PARAM[kind], key.strip())
        if key != _PARAM[kind]:
            raise ValueError(f"unknown parameter {key!r} for {kind.value}; known ['{_PARAM[kind]}']")
        return cls(kind=kind, start=start, end=end, amount=float(value))

    def __str__(self) -> str:
        """The compact form; ``ImageDrift.parse(str(spec)) == spec``."""
        where = f"{self.start}" if self.end is None else f"{self.start}..{self.end}"
        if self.kind not in _PARAM:
            return f"{self.kind.value}@{where}"
        amount = self.amount
        text = str(int(amount)) if amount.is_integer() else repr(amount)
        return f"{self.kind.value}:{_PARAM[self.kind]}={text}@{where}"


def parse_image_drift(text: str | Iterable[ImageDrift | str] | None) -> tuple[ImageDrift, ...]:
    """Specs from ``"a;b"``, a list of specs or their text, or None (no drift)."""
    if text is None:
        return ()
    items = text.split(";") if isinstance(text, str) else list(text)
    return tuple(
        item if isinstance(item, ImageDrift) else ImageDrift.parse(item)
        for item in items
        if isinstance(item, ImageDrift) or item.strip()
    )
