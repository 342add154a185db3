"""A version's ``manifest.json``: the sha256 of every file and a fingerprint over them, read and re-checked."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from driftline.errors import IntegrityError, RegistryError
from driftline.registry.files import sha256_file
from driftline.registry.names import MANIFEST_FILE, check_file_name
from driftline.signing import SIGNATURE_FILE


@dataclass(frozen=True)
class Manifest:
    """What ``manifest.json`` says: the sha256 of every file, and a fingerprint over them."""

    version: int
    files: Mapping[str, str]
    fingerprint: str
    created_at: datetime
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class VersionInfo:
    """One registered version, as listed (read from its manifest, not re-hashed)."""

    version: int
    created_at: datetime
    fingerprint: str
    metrics: Mapping[str, Any]
    is_production: bool
    path: Path


def fingerprint_of(files: Mapping[str, str]) -> str:
    """sha256 over ``"<sha256>  <name>\\n"`` lines sorted by name: content identity, not time."""
    return hashlib.sha256("".join(f"{files[n]}  {n}\n" for n in sorted(files)).encode()).hexdigest()


def iso(moment: datetime) -> str:
    """The registry's time format (manifests and aliases): ISO-8601 UTC to the millisecond."""
    if moment.tzinfo is None:
        raise RegistryError(f"expected a timezone-aware time, found naive {moment!r}")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def manifest_bytes(
    version: int, hashes: Mapping[str, str], created_at: datetime, metadata: Mapping[str, Any] | None
) -> bytes:
    """The ``manifest.json`` of a new version."""
    manifest = {
        "version": version,
        "files": hashes,
        "fingerprint": fingerprint_of(hashes),
        "created_at": iso(created_at),
        "metadata": dict(metadata or {}),
    }
    return orjson.dumps(manifest, option=orjson.OPT_INDENT_2)


def read_manifest(directory: Path, version: int) -> Manifest:
    """Read ``manifest.json`` of the version in ``directory`` (no hashing: see :func:`verify_files`)."""
    try:
        data = (directory / MANIFEST_FILE).read_bytes()
    except OSError as exc:
        raise IntegrityError(f"version {version}: {MANIFEST_FILE} is missing or unreadable: {exc!r}") from exc
    return parse_manifest(data, version)


def parse_manifest(data: bytes, version: int) -> Manifest:
    """The manifest of ``version`` from the bytes of its ``manifest.json``."""
    try:
        raw = orjson.loads(data)
        manifest = Manifest(
            version=int(raw["version"]),
            files={str(k): str(v) for k, v in raw["files"].items()},
            fingerprint=str(raw["fingerprint"]),
            created_at=datetime.fromisoformat(raw["created_at"]),
            metadata=dict(raw.get("metadata") or {}),
        )
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise IntegrityError(f"version {version}: {MANIFEST_FILE} is missing or unreadable: {exc!r}") from exc
    if manifest.version != int(version):
        raise IntegrityError(f"version {version}: {MANIFEST_FILE} says version {manifest.version}")
    return manifest


def verify_files(directory: Path, manifest: Manifest, version: int) -> None:
    """Re-hash every file in ``directory`` against ``manifest``; IntegrityError names the first mismatch."""
    present = {entry.name for entry in directory.iterdir()} - {MANIFEST_FILE, SIGNATURE_FILE}
    extra = sorted(present - set(manifest.files))
    if extra:
        raise IntegrityError(f"version {version}: file {extra[0]!r} is not in the manifest (expected none)")
    for name, expected in sorted(manifest.files.items()):
        check_file_name(name)
        if name not in present:
            raise IntegrityError(f"version {version}: file {name!r} is missing (expected sha256 {expected})")
        found = sha256_file(directory / name)
        if found != expected:
            raise IntegrityError(
                f"version {version}: file {name!r} was altered: expected sha256 {expected}, found {found}"
            )
    if fingerprint_of(manifest.files) != manifest.fingerprint:
        raise IntegrityError(
            f"version {version}: manifest fingerprint is {manifest.fingerprint}, "
            f"its entries give {fingerprint_of(manifest.files)}"
        )
