"""Durable files: copies that are fsync'd and hashed on the way, chunked hashing, and stale temp-dir sweeps."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from driftline.errors import RegistryError
from driftline.modelio import refuse_unsafe_content

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20


def write_file(target: Path, source: Path | bytes) -> str:
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


def sha256_file(path: Path) -> str:
    """The sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    for chunk in _read_chunks(path):
        digest.update(chunk)
    return digest.hexdigest()


def replace_atomically(path: Path, data: bytes, *, tmp_dir: Path | None = None) -> None:
    """Write ``path`` by temp file (in ``tmp_dir``, else beside it) + fsync + os.replace: readers see the old
    content or the new, never half."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=tmp_dir or path.parent)
    try:
        os.fchmod(fd, 0o644)  # mkstemp gives 0600
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    """Make a directory's entries (a rename into it, a new file) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sweep_stale(model_dir: Path, stale_after: timedelta) -> None:
    """Remove temporary version dirs of writers that died (older than ``stale_after``; younger ones may be
    another writer's work in progress)."""
    cutoff = time.time() - stale_after.total_seconds()
    for tmp in model_dir.glob(".tmp-*"):
        with contextlib.suppress(OSError):
            if tmp.is_dir() and tmp.stat().st_mtime < cutoff:
                shutil.rmtree(tmp)
                logger.warning("removed stale temporary version dir=%s", tmp)
