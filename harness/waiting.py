"""Waiting for a condition with a deadline (never a bare sleep)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(condition: Callable[[], T], *, timeout: float, interval: float = 0.1, message: str = "") -> T:
    """Poll until condition() is truthy; return its value or fail with the last value seen."""
    deadline = time.monotonic() + timeout
    value = condition()
    while not value:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {message or condition}; last: {value!r}")
        time.sleep(interval)
        value = condition()
    return value
