"""The registry's writer lock: an flock on ``<model>/.lock``, held while a version number is allocated or an
alias moves."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from driftline.errors import RegistryError


@contextlib.contextmanager
def locked(model_dir: Path, timeout: float) -> Iterator[None]:
    """Hold an exclusive flock on ``<model>/.lock``, against other processes and threads (one fd each)."""
    model_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(model_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise RegistryError(f"{model_dir / '.lock'} still locked after {timeout}s") from None
                time.sleep(0.005)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
