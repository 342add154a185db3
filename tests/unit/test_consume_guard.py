"""A consume loop ends only with its worker: any other end exits the worker so that its supervisor restarts it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

import processors.app as processor_app


def guarded(loop: Callable[[], object], *, stopping: bool, monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, str]]:
    exits: list[tuple[int, str]] = []
    monkeypatch.setattr(processor_app, "hard_exit", lambda code, why: exits.append((code, why)))
    asyncio.run(processor_app._guarded(loop(), "records", lambda: stopping))  # type: ignore[arg-type]
    return exits


async def cancelled() -> None:
    raise asyncio.CancelledError


async def returns() -> None:
    return None


async def fails() -> None:
    raise ConnectionError("broker gone")


def test_a_loop_cancelled_while_the_worker_is_not_stopping_exits_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # what a broker outage did: the task was cancelled, the process stayed up and scored nothing, for good
    exits = guarded(cancelled, stopping=False, monkeypatch=monkeypatch)
    why = "the records loop was cancelled while the worker was not stopping"
    assert exits == [(processor_app.EXIT_UNEXPECTED, why)]


def test_a_loop_cancelled_by_a_shutdown_is_a_clean_stop(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(asyncio.CancelledError):
        guarded(cancelled, stopping=True, monkeypatch=monkeypatch)


def test_a_loop_that_returns_exits_the_worker_unless_it_is_stopping(monkeypatch: pytest.MonkeyPatch) -> None:
    assert guarded(returns, stopping=False, monkeypatch=monkeypatch) == [
        (processor_app.EXIT_UNEXPECTED, "the records loop ended while the worker was not stopping")
    ]
    assert guarded(returns, stopping=True, monkeypatch=monkeypatch) == []


def test_an_error_in_a_loop_exits_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    assert guarded(fails, stopping=False, monkeypatch=monkeypatch) == [
        (processor_app.EXIT_UNEXPECTED, "ConnectionError: broker gone")
    ]
