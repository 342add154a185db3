"""The column pass of a batch: the records kept after the envelope checks, and each feature's values of them
as one typed array, vectorised (an image column: an object array of decoded ``uint8`` arrays).

Positions the pass cannot clear (wrong type, null, out of range, an image that does not decode) are returned as
suspects, for the validator to judge one by one, so the reason always comes from the same code as for a single
record.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import suppress
from typing import Any

import numpy as np

from driftline import images  # a module, not its names: driftline.images imports this package
from driftline.contract import Feature
from driftline.validation.invalid import Invalid

NumericField = tuple[str, bool, float, float]  # name, nullable, lowest and highest accepted value
CategoricalField = tuple[str, bool]  # name, nullable
ImageField = tuple[str, Feature]  # name, the image feature (never nullable)

_NAN = math.nan
_NUMBER_TYPES = frozenset({float, int, type(None)})
_STR = frozenset({str})
_STR_NONE = frozenset({str, type(None)})


class Kept:
    """Records of a batch that passed the envelope checks, in parallel lists."""

    __slots__ = ("ids", "index", "literal", "objs", "raws", "times")

    def __init__(self) -> None:
        self.index: list[int] = []
        self.raws: list[bytes | None] = []
        self.objs: list[dict[str, Any]] = []
        self.ids: list[str] = []
        self.times: list[int] = []
        self.literal: set[int] = set()  # positions whose JSON held NaN/Infinity/overflow

    def add(
        self, i: int, raw: bytes | None, obj: dict[str, Any], record_id: str, ms: int, literal: bool
    ) -> None:
        if literal:
            self.literal.add(len(self.objs))
        self.index.append(i)
        self.raws.append(raw)
        self.objs.append(obj)
        self.ids.append(record_id)
        self.times.append(ms)


def feature_columns(
    objs: list[dict[str, Any]],
    numeric: tuple[NumericField, ...],
    categorical: tuple[CategoricalField, ...],
    names: Sequence[str],
    image: tuple[ImageField, ...] = (),
) -> tuple[dict[str, np.ndarray], set[int]]:
    """Typed feature columns (contract order) and the positions whose value may be invalid."""
    suspects: set[int] = set()
    by_name: dict[str, np.ndarray] = {}
    for name, nullable, lo, hi in numeric:
        col: list[Any] = [o.get(name) for o in objs]
        a = None
        if set(map(type, col)) <= _NUMBER_TYPES:
            with suppress(OverflowError):
                a = np.array(col, dtype=np.float64)  # None → NaN
        if a is not None:
            bad = ~((a >= lo) & (a <= hi))
            if bad.any():
                suspects.update(j for j in np.flatnonzero(bad).tolist() if not (nullable and col[j] is None))
        else:
            a = np.full(len(col), _NAN)
            for j, v in enumerate(col):
                c = v.__class__
                if (c is float or c is int) and lo <= v <= hi:
                    a[j] = v
                elif not (nullable and v is None):
                    suspects.add(j)
        by_name[name] = a
    for name, nullable in categorical:
        col = [o.get(name) for o in objs]
        types = set(map(type, col))
        if types == _STR or (nullable and types <= _STR_NONE):
            by_name[name] = np.array(col, dtype=object)
            continue
        out = np.empty(len(col), dtype=object)  # filled with None
        for j, v in enumerate(col):
            c = v.__class__
            if c is str:
                out[j] = v
            elif c is int:
                out[j] = str(v)
            elif not (nullable and v is None):
                suspects.add(j)
        by_name[name] = out
    for name, feature in image:
        out = np.empty(len(objs), dtype=object)  # filled with None; never np.array(list of arrays), which stacks
        for j, o in enumerate(objs):
            try:
                out[j] = images.decode_image(o.get(name), feature)
            except Invalid:
                suspects.add(j)
        by_name[name] = out
    return {name: by_name[name] for name in names}, suspects
