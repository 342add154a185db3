"""Drift a scenario generator switches on at a record index: what changes, where, and from when.

Compact text form (for the CLI), one spec per string, several joined with ``;``::

    KIND[:FEATURE][:PARAMS]@START[..END]

    concept:function=3@20000              switch the labelling function to 3 from record 20000 on
    concept:3@20000                       the same (a bare value is the kind's main parameter)
    covariate:salary@20000                salary' = salary * 1.5 from record 20000 on
    covariate:salary:scale=1,shift=40000@20000
    new_categories:car@30000              half of the car values become unseen categories ("21".."25")
    new_categories:car:count=3,fraction=1@30000
    missing:age:0.3@10000..12000          a spike: 30% of age values are null for records [10000, 12000)

Main parameters: concept → ``function``, covariate → ``scale``, new_categories and missing → ``fraction``.
``END`` is exclusive; without it the drift lasts to the end of the stream.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

logger = logging.getLogger(__name__)


class DriftKind(StrEnum):
    CONCEPT = "concept"  # the labelling function changes
    COVARIATE = "covariate"  # a numeric feature's distribution moves (x * scale + shift)
    NEW_CATEGORIES = "new_categories"  # a categorical feature emits values outside its training set
    MISSING = "missing"  # a fraction of a feature's values become null


_MAIN_PARAM = {
    DriftKind.CONCEPT: "function",
    DriftKind.COVARIATE: "scale",
    DriftKind.NEW_CATEGORIES: "fraction",
    DriftKind.MISSING: "fraction",
}
_PARAMS = {
    DriftKind.CONCEPT: {"function"},
    DriftKind.COVARIATE: {"scale", "shift"},
    DriftKind.NEW_CATEGORIES: {"fraction", "count"},
    DriftKind.MISSING: {"fraction"},
}


def split_window(text: str) -> tuple[str, int, int | None]:
    """``BODY@START[..END]`` → (body, start, end or None): the record window every drift spec ends with."""
    body, at, where = text.partition("@")
    if not at:
        raise ValueError("missing '@START'")
    start_text, dots, end_text = where.partition("..")
    return body, int(start_text), (int(end_text) if dots else None)


def check_window(start: int, end: int | None) -> None:
    """A drift's record window ``[start, end)`` must start at 0 or later and end after it starts."""
    if start < 0:
        raise ValueError(f"drift start must be >= 0, found {start}")
    if end is not None and end <= start:
        raise ValueError(f"drift end must be after start {start}, found {end}")


@dataclass(frozen=True)
class DriftSpec:
    """One drift, active for record indices in ``[start, end)`` (``end=None``: forever)."""

    kind: DriftKind
    start: int
    end: int | None = None
    feature: str | None = None
    function: int | None = None
    scale: float = 1.5
    shift: float = 0.0
    fraction: float = 0.5
    count: int = 5

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", DriftKind(self.kind))
        check_window(self.start, self.end)
        if self.kind is DriftKind.CONCEPT:
            if self.function is None:
                raise ValueError("concept drift needs a function, e.g. 'concept:function=3@20000'")
            if self.feature is not None:
                raise ValueError(f"concept drift takes no feature, found {self.feature!r}")
        elif not self.feature:
            raise ValueError(
                f"{self.kind.value} drift needs a feature, e.g. '{self.kind.value}:salary@20000'"
            )
        if not 0.0 <= self.fraction <= 1.0:
            raise ValueError(f"drift fraction must be in [0, 1], found {self.fraction}")
        if self.count < 1:
            raise ValueError(f"new_categories count must be >= 1, found {self.count}")

    def active(self, index: int) -> bool:
        return self.start <= index and (self.end is None or index < self.end)

    @classmethod
    def parse(cls, text: str) -> DriftSpec:
        """Read one spec in the compact form (module docstring); errors quote the text and the form."""
        try:
            return cls._parse(text.strip())
        except (ValueError, KeyError) as exc:
            raise ValueError(
                f"bad drift spec {text!r}: {exc}; expected KIND[:FEATURE][:PARAMS]@START[..END], "
                f"kinds {[k.value for k in DriftKind]}"
            ) from None

    @classmethod
    def _parse(cls, text: str) -> DriftSpec:
        body, start, end = split_window(text)
        kind_text, _, rest = body.partition(":")
        kind = DriftKind(kind_text.strip())
        parts = [p.strip() for p in rest.split(":")] if rest else []
        feature = None
        if kind is not DriftKind.CONCEPT and parts:
            feature = parts.pop(0)
        if len(parts) > 1:
            raise ValueError(f"too many ':' parts {parts}")
        values: dict[str, str] = {}
        for item in parts[0].split(",") if parts else []:
            key, eq, value = item.partition("=")
            key, value = (key.strip(), value.strip()) if eq else (_MAIN_PARAM[kind], key.strip())
            if key not in _PARAMS[kind]:
                raise ValueError(f"unknown parameter {key!r} for {kind.value}; known {sorted(_PARAMS[kind])}")
            values[key] = value
        typed: dict[str, float | int] = {
            k: int(v) if k in ("function", "count") else float(v) for k, v in values.items()
        }
        return cls(kind=kind, start=start, end=end, feature=feature, **typed)  # type: ignore[arg-type]

    def __str__(self) -> str:
        """The compact form; ``DriftSpec.parse(str(spec)) == spec``."""
        where = f"{self.start}" if self.end is None else f"{self.start}..{self.end}"
        if self.kind is DriftKind.CONCEPT:
            return f"concept:function={self.function}@{where}"
        params = {
            DriftKind.COVARIATE: f"scale={_num(self.scale)},shift={_num(self.shift)}",
            DriftKind.NEW_CATEGORIES: f"fraction={_num(self.fraction)},count={self.count}",
            DriftKind.MISSING: f"fraction={_num(self.fraction)}",
        }[self.kind]
        return f"{self.kind.value}:{self.feature}:{params}@{where}"


def _num(x: float) -> str:
    """Shortest text that reads back to the same float (``2`` rather than ``2.0``)."""
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(float(x))


def parse_drift(text: str | Iterable[str] | None) -> tuple[DriftSpec, ...]:
    """Specs from ``"a;b"``, a list of strings, or None (no drift)."""
    if text is None:
        return ()
    items = text.split(";") if isinstance(text, str) else list(text)
    return tuple(DriftSpec.parse(item) for item in items if item.strip())
