"""Aliases: ``<model>/aliases/<name>.json`` says which version a name points at, and which it pointed at before."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import orjson

from driftline.errors import RegistryError
from driftline.registry.files import fsync_dir, replace_atomically
from driftline.registry.manifest import iso

PRODUCTION = "production"
STAGING = "staging"  # a retrain's winner waits here, scored in the shadow, until it is promoted


@dataclass(frozen=True)
class AliasInfo:
    """Where an alias points, where it pointed before, and since when."""

    name: str
    version: int
    previous: int | None
    set_at: datetime


def read_alias(path: Path, name: str) -> AliasInfo | None:
    """The alias stored at ``path``, or None if it was never set."""
    try:
        raw = orjson.loads(path.read_bytes())
        previous = raw.get("previous")
        return AliasInfo(
            name=name,
            version=int(raw["version"]),
            previous=None if previous is None else int(previous),
            set_at=datetime.fromisoformat(raw["set_at"]),
        )
    except FileNotFoundError:
        return None
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise RegistryError(
            f"alias {name!r} at {path}: expected {{version, previous, set_at}}: {exc!r}"
        ) from exc


def write_alias(path: Path, info: AliasInfo) -> None:
    """Write the alias by temp file + fsync + os.replace: readers see the old or the new, never half."""
    payload = {"version": info.version, "previous": info.previous, "set_at": iso(info.set_at)}
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_atomically(path, orjson.dumps(payload, option=orjson.OPT_INDENT_2))


def remove_alias(path: Path) -> bool:
    """Remove the alias stored at ``path`` (fsync'd); False if it was not set."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    fsync_dir(path.parent)
    return True
