"""Where a version came from: its parent version, what asked for it, the data it learned from, how it was searched.

Kept in the version's manifest metadata (key ``lineage``), so it is covered by the manifest's signature and read
with it, without a file of its own:

    {"parent": 3,                                 # the champion it was compared with (None for a first model)
     "trigger": {"kind": "alert", "at": "...", "alerts": ["DriftlineAccuracyDrop"], "reason": "..."},
     "window": {"kind": "kafka", ...} | {"kind": "file", "path": ..., "sha256": ...} | {"kind": "scenario", ...},
     "search": {"seed": 7, "budget_seconds": 40.0, "trials": 4, "selected": 0, "hyperparameters": {...}}}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from driftline.errors import IntegrityError
from driftline.registry.manifest import iso

__all__ = ["LINEAGE_KEY", "Lineage", "Trigger", "file_window", "scenario_window"]

LINEAGE_KEY = "lineage"
TriggerKind = Literal["alert", "retrain", "train"]


@dataclass(frozen=True)
class Trigger:
    """What asked for a version: alerts (their names, when the trainer received them), the ``retrain`` command, or
    ``train``."""

    kind: TriggerKind
    at: datetime
    alerts: tuple[str, ...] = ()
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "at": iso(self.at), "alerts": list(self.alerts), "reason": self.reason}


@dataclass(frozen=True)
class Lineage:
    """A version's parent, trigger, training window and search settings (see the module's docstring)."""

    parent: int | None
    trigger: Trigger
    window: Mapping[str, Any]
    search: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"parent": self.parent, "trigger": self.trigger.to_json(), "window": dict(self.window),
                "search": dict(self.search)}  # fmt: skip

    @classmethod
    def from_json(cls, raw: Mapping[str, Any], version: int) -> Lineage:
        """The lineage in a manifest's metadata; IntegrityError if it is not one."""
        try:
            trigger = raw["trigger"]
            parent = raw.get("parent")
            return cls(
                parent=None if parent is None else int(parent),
                trigger=Trigger(kind=trigger["kind"], at=datetime.fromisoformat(trigger["at"]),
                                alerts=tuple(trigger.get("alerts") or ()), reason=str(trigger.get("reason", ""))),
                window=dict(raw["window"]),
                search=dict(raw.get("search") or {}),
            )  # fmt: skip
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise IntegrityError(f"version {version}: its lineage is not {{parent, trigger, window}}: {exc!r}") from exc


def file_window(path: Path, sha256: str, rows: int) -> dict[str, Any]:
    """The training window of ``train --data FILE``: the file and its content's hash."""
    return {"kind": "file", "path": str(path.resolve()), "sha256": sha256, "rows": rows}


def scenario_window(description: str, rows: int) -> dict[str, Any]:
    """The training window of ``train`` on a built-in scenario (its description names its seed and drift)."""
    return {"kind": "scenario", "source": description, "rows": rows}
