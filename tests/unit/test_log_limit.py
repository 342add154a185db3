"""Repeated warnings pass once per interval, saying how many were held back; other records always pass."""

from __future__ import annotations

import io
import logging

from driftline.log_limit import RepeatLimiter, limit_repeats


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def logger_with(*streams: io.StringIO, clock: Clock) -> logging.Logger:
    log = logging.getLogger(f"test_log_limit.{id(streams)}")
    log.propagate, log.level = False, logging.DEBUG
    handlers = [logging.StreamHandler(stream) for stream in streams]
    for handler in handlers:
        log.addHandler(handler)
    limit_repeats(handlers, RepeatLimiter(10.0, clock=clock))
    return log


def test_a_flood_of_one_kind_passes_once_per_interval_with_the_count_held_back() -> None:
    out, clock = io.StringIO(), Clock()
    log = logger_with(out, clock=clock)
    for attempt in range(1000):  # a reconnect loop: the same message, other numbers
        clock.now = attempt * 0.01
        log.error("Unable connect to node with id %d: attempt %d", 1, attempt)
    clock.now = 10.5
    log.error("Unable connect to node with id %d: attempt %d", 1, 1000)
    lines = out.getvalue().splitlines()
    assert lines == ["Unable connect to node with id 1: attempt 0",
                     "Unable connect to node with id 1: attempt 1000 [999 more like it held back since the last "
                     "one shown]"]  # fmt: skip


def test_other_kinds_and_records_below_warning_are_not_held_back() -> None:
    out, clock = io.StringIO(), Clock()
    log = logger_with(out, clock=clock)
    log.warning("broker down")
    log.warning("redis down")  # another kind
    log.error("broker down")  # another level
    for _ in range(3):
        log.info("batch scored")
    assert out.getvalue().splitlines() == ["broker down", "redis down", "broker down"] + ["batch scored"] * 3


def test_every_handler_sees_the_same_decision() -> None:
    console, file, clock = io.StringIO(), io.StringIO(), Clock()
    log = logger_with(console, file, clock=clock)
    for _ in range(5):
        log.warning("Unable to update metadata from [%d]", 1)
    clock.now = 11.0
    log.warning("Unable to update metadata from [%d]", 1)
    assert console.getvalue() == file.getvalue()
    assert len(console.getvalue().splitlines()) == 2 and "[4 more like it" in console.getvalue()
