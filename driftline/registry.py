"""The model registry: numbered versions and aliases on a (shared) filesystem (DESIGN section 4).

    <root>/<model>/versions/<n>/        model.keras, preprocessing.json, ..., manifest.json
    <root>/<model>/aliases/<name>.json  {"version": n, "previous": m, "set_at": "<ISO-8601 UTC>"}
    <root>/<model>/.lock                flock'd while a version number is allocated or an alias moves
    <root>/<model>/.tmp-*               versions being written: never listed, swept when stale

A version is written into a temporary directory, its ``manifest.json`` (sha256 of every file) last, then
renamed into place, so it is either whole or absent. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from driftline.errors import IntegrityError, RegistryError, VersionNotFound
from driftline.modelio import inspect_keras_archive, refuse_unsafe_content, refuse_unsafe_name

__all__ = ["AliasInfo", "Manifest", "Registry", "VersionInfo", "fingerprint_of"]

logger = logging.getLogger(__name__)

MODEL_FILE = "model.keras"
MANIFEST_FILE = "manifest.json"
PRODUCTION = "production"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_CHUNK = 1 << 20


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


@dataclass(frozen=True)
class AliasInfo:
    """Where an alias points, where it pointed before, and since when."""

    name: str
    version: int
    previous: int | None
    set_at: datetime


def fingerprint_of(files: Mapping[str, str]) -> str:
    """sha256 over ``"<sha256>  <name>\\n"`` lines sorted by name: content identity, not time."""
    return hashlib.sha256("".join(f"{files[n]}  {n}\n" for n in sorted(files)).encode()).hexdigest()


class Registry:
    """Versions and aliases of one model under ``root``. Several writers may share it (flock)."""

    def __init__(
        self,
        root: Path,
        model: str,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        lock_timeout: float = 30.0,
        stale_after: timedelta = timedelta(hours=1),
    ) -> None:
        self.root = Path(root)
        self.model = _check_name(model, "model name")
        self.model_dir = self.root / model
        self._clock = clock
        self._lock_timeout = lock_timeout
        self._stale_after = stale_after

    def __repr__(self) -> str:
        return f"Registry(root={str(self.root)!r}, model={self.model!r})"

    def register(
        self, files: Mapping[str, Path | bytes], *, metadata: Mapping[str, Any] | None = None
    ) -> int:
        """Write a new version from ``{file name: source path or bytes}``; return its number.

        ``model.keras`` is required and checked (a zip, no Lambda layer); refused kinds raise IntegrityError.
        ``metadata`` (JSON-serialisable: data window, reason, ...) is kept in the manifest.
        """
        if MODEL_FILE not in files:
            raise IntegrityError(f"a version needs {MODEL_FILE}; found files {sorted(files)}")
        for name in files:
            _check_file_name(name)
        self.model_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.model_dir))
        try:
            os.chmod(tmp, 0o755)  # mkdtemp gives 0700; workers may read as another user
            hashes = {name: _write_file(tmp / name, source) for name, source in sorted(files.items())}
            inspect_keras_archive(tmp / MODEL_FILE)
            with self._locked():
                self._sweep_stale()
                versions_dir = self.model_dir / "versions"
                versions_dir.mkdir(exist_ok=True)
                version = max(self._version_numbers(), default=0) + 1
                manifest = {
                    "version": version,
                    "files": hashes,
                    "fingerprint": fingerprint_of(hashes),
                    "created_at": _iso(self._clock()),
                    "metadata": dict(metadata or {}),
                }
                _write_file(tmp / MANIFEST_FILE, orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
                _fsync_dir(tmp)
                os.rename(tmp, versions_dir / str(version))  # fails, never merges, if the number is taken
                _fsync_dir(versions_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        logger.info(
            "registered model=%s model_version=%d fingerprint=%s",
            self.model,
            version,
            manifest["fingerprint"],
        )
        return version

    def path(self, version: int) -> Path:
        """The directory of ``version``; VersionNotFound if it does not exist."""
        path = self.model_dir / "versions" / str(int(version))
        if not path.is_dir():
            raise VersionNotFound(
                f"model {self.model!r} has no version {version}; found {self._version_numbers()}"
            )
        return path

    def manifest(self, version: int) -> Manifest:
        """Read ``manifest.json`` of ``version`` (no hashing: see :meth:`verify`)."""
        path = self.path(version) / MANIFEST_FILE
        try:
            raw = orjson.loads(path.read_bytes())
            manifest = Manifest(
                version=int(raw["version"]),
                files={str(k): str(v) for k, v in raw["files"].items()},
                fingerprint=str(raw["fingerprint"]),
                created_at=datetime.fromisoformat(raw["created_at"]),
                metadata=dict(raw.get("metadata") or {}),
            )
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise IntegrityError(
                f"version {version}: {MANIFEST_FILE} is missing or unreadable: {exc!r}"
            ) from exc
        if manifest.version != int(version):
            raise IntegrityError(f"version {version}: {MANIFEST_FILE} says version {manifest.version}")
        return manifest

    def verify(self, version: int) -> Manifest:
        """Re-hash every file of ``version`` against its manifest; IntegrityError names the first mismatch."""
        manifest = self.manifest(version)
        directory = self.path(version)
        present = {entry.name for entry in directory.iterdir()} - {MANIFEST_FILE}
        extra = sorted(present - set(manifest.files))
        if extra:
            raise IntegrityError(
                f"version {version}: file {extra[0]!r} is not in the manifest (expected none)"
            )
        for name, expected in sorted(manifest.files.items()):
            _check_file_name(name)
            if name not in present:
                raise IntegrityError(
                    f"version {version}: file {name!r} is missing (expected sha256 {expected})"
                )
            found = _sha256_file(directory / name)
            if found != expected:
                raise IntegrityError(
                    f"version {version}: file {name!r} was altered: expected sha256 {expected}, found {found}"
                )
        if fingerprint_of(manifest.files) != manifest.fingerprint:
            raise IntegrityError(
                f"version {version}: manifest fingerprint is {manifest.fingerprint}, "
                f"its entries give {fingerprint_of(manifest.files)}"
            )
        return manifest

    def versions(self) -> list[VersionInfo]:
        """Every readable version, oldest first. Temporary directories are not versions; unreadable ones are
        logged and skipped (their numbers are still never reused)."""
        alias = self.alias(PRODUCTION)
        infos = []
        for version in self._version_numbers():
            try:
                infos.append(self._info(version, alias))
            except IntegrityError as exc:
                logger.warning("skipping unreadable model=%s model_version=%d: %s", self.model, version, exc)
        return infos

    def get(self, version: int) -> VersionInfo:
        """One version's listing entry; VersionNotFound if absent."""
        return self._info(version, self.alias(PRODUCTION))

    def latest(self) -> VersionInfo:
        """The highest readable version; VersionNotFound if there is none."""
        infos = self.versions()
        if not infos:
            raise VersionNotFound(f"model {self.model!r} has no versions under {self.model_dir}")
        return infos[-1]

    def alias(self, name: str = PRODUCTION) -> AliasInfo | None:
        """Where alias ``name`` points, or None if it was never set."""
        path = self._alias_path(name)
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

    def set_alias(self, name: str, version: int) -> AliasInfo:
        """Point alias ``name`` at ``version``, which must exist and verify; the old target
        becomes ``previous``.

        Idempotent: setting an alias to where it already points changes nothing (``previous`` is kept).
        """
        with self._locked():
            current = self.alias(name)
            if current is not None and current.version == version:
                return current
            return self._write_alias(name, version, None if current is None else current.version)

    def promote(self, version: int) -> AliasInfo:
        """Make ``version`` production."""
        return self.set_alias(PRODUCTION, version)

    def rollback(self, name: str = PRODUCTION) -> AliasInfo:
        """Point ``name`` back at its ``previous`` version and clear ``previous``: a second rollback without a
        promotion in between is refused rather than re-promoting the version just rolled back."""
        with self._locked():
            current = self.alias(name)
            if current is None or current.previous is None:
                raise VersionNotFound(f"alias {name!r} of model {self.model!r} has no previous version")
            info = self._write_alias(name, current.previous, None)
        logger.warning(
            "rolled back alias=%s model=%s from=%d to=%d", name, self.model, current.version, info.version
        )
        return info

    def _write_alias(self, name: str, version: int, previous: int | None) -> AliasInfo:
        """Write the alias by temp file + fsync + os.replace: readers see the old or the new, never half."""
        self.verify(version)  # refuses a missing (VersionNotFound) or altered (IntegrityError) version
        info = AliasInfo(name=name, version=int(version), previous=previous, set_at=self._clock())
        payload = {"version": info.version, "previous": info.previous, "set_at": _iso(info.set_at)}
        path = self._alias_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=path.parent)
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
        _fsync_dir(path.parent)
        logger.info("alias=%s model=%s model_version=%d previous=%s", name, self.model, version, previous)
        return info

    def _info(self, version: int, alias: AliasInfo | None) -> VersionInfo:
        manifest = self.manifest(version)
        metrics_path = self.path(version) / "metrics.json"
        try:
            metrics = orjson.loads(metrics_path.read_bytes()) if metrics_path.exists() else {}
        except (OSError, orjson.JSONDecodeError) as exc:
            raise IntegrityError(f"version {version}: metrics.json is unreadable: {exc!r}") from exc
        return VersionInfo(
            version=manifest.version,
            created_at=manifest.created_at,
            fingerprint=manifest.fingerprint,
            metrics=metrics if isinstance(metrics, dict) else {},
            is_production=alias is not None and alias.version == manifest.version,
            path=metrics_path.parent,
        )

    def _version_numbers(self) -> list[int]:
        versions_dir = self.model_dir / "versions"
        if not versions_dir.is_dir():
            return []
        return sorted(
            int(p.name) for p in versions_dir.iterdir() if p.name.isdigit() and p.name == str(int(p.name))
        )

    def _alias_path(self, name: str) -> Path:
        return self.model_dir / "aliases" / f"{_check_name(name, 'alias name')}.json"

    def _sweep_stale(self) -> None:
        """Remove temporary version dirs of writers that died (older than ``stale_after``; younger ones may be
        another writer's work in progress)."""
        cutoff = time.time() - self._stale_after.total_seconds()
        for tmp in self.model_dir.glob(".tmp-*"):
            with contextlib.suppress(OSError):
                if tmp.is_dir() and tmp.stat().st_mtime < cutoff:
                    shutil.rmtree(tmp)
                    logger.warning("removed stale temporary version dir=%s", tmp)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold an exclusive flock on ``<model>/.lock``, against other processes and threads (one fd each)."""
        self.model_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.model_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + self._lock_timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise RegistryError(
                            f"{self.model_dir / '.lock'} still locked after {self._lock_timeout}s"
                        ) from None
                    time.sleep(0.005)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock


def _check_name(name: str, what: str) -> str:
    if not _NAME.match(name):
        raise RegistryError(
            f"{what} {name!r}: expected letters, digits, '.', '_', '-', starting alphanumeric"
        )
    return name


def _check_file_name(name: str) -> None:
    _check_name(name, "file name")
    refuse_unsafe_name(name)
    if name == MANIFEST_FILE:
        raise IntegrityError(f"{MANIFEST_FILE} is written by the registry; do not pass it in")


def _write_file(target: Path, source: Path | bytes) -> str:
    """Copy ``source`` into a new file ``target``, fsync'd; return its sha256. Refuses HDF5/pickle content."""
    digest = hashlib.sha256()
    chunks = iter([bytes(source)]) if isinstance(source, bytes | bytearray) else _read_chunks(Path(source))
    with open(target, "xb") as out:
        for index, chunk in enumerate(chunks):
            if index == 0:
                refuse_unsafe_content(target.name, chunk)
            digest.update(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest()


def _read_chunks(path: Path) -> Iterator[bytes]:
    if not path.is_file():
        raise RegistryError(f"source file {str(path)!r} does not exist or is not a regular file")
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            yield chunk


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    for chunk in _read_chunks(path):
        digest.update(chunk)
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise RegistryError(f"expected a timezone-aware time, found naive {moment!r}")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")
