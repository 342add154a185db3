"""Aliases: ``<model>/aliases/<name>.json`` says which version a name points at, and which it pointed at before."""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import orjson

from driftline.errors import RegistryError
from driftline.registry.files import fsync_dir
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
    fd, tmp = tempfile.mkstemp(prefix=f".{info.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)  # mkstemp gives 0600
        with os.fdopen(fd, "wb") as handle:
            handle.write(orjson.dumps(payload, option=orjson.OPT_INDENT_2))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def remove_alias(path: Path) -> bool:
    """Remove the alias stored at ``path`` (fsync'd); False if it was not set."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    fsync_dir(path.parent)
    return True
