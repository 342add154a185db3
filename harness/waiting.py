"""Waiting for a condition with a deadline (never a bare sleep)."""

from __future__ import annotations

import asyncio
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


async def eventually(condition: Callable[[], T], *, timeout: float, interval: float = 0.05, message: str = "") -> T:
    """``wait_for`` inside a coroutine: the event loop runs meanwhile (for a condition that a task of it makes true)."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {message or condition}; last: {value!r}")
        await asyncio.sleep(interval)
    return value
