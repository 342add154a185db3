"""Repeated warnings and errors, at most one per interval: a broker outage must not flood the log.

While Kafka or Redis is away, client libraries log every failed reconnect, and one outage of 38 s once wrote 250,000
lines from two workers. ``RepeatLimiter`` passes the first record of each kind (same logger, level and message with
its numbers masked) and then at most one per ``interval`` seconds; the one it passes says how many it held back.
Records below WARNING always pass.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable

_NUMBERS = re.compile(r"\d+")
_MAX_KINDS = 10_000  # forget every kind beyond this many (a flood of ever-new messages): never a leak


class RepeatLimiter(logging.Filter):
    def __init__(self, interval: float = 10.0, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.interval = interval
        self._clock = clock
        self._next: dict[tuple[str, int, str], float] = {}
        self._held: dict[tuple[str, int, str], int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        decided = getattr(record, "_repeat_passed", None)  # one decision per record, however many handlers
        if decided is None:
            decided = record._repeat_passed = self._decide(record)
        return bool(decided)

    def _decide(self, record: logging.LogRecord) -> bool:
        kind = (record.name, record.levelno, _NUMBERS.sub("#", str(record.msg))[:300])
        now = self._clock()
        if now < self._next.get(kind, -1.0):
            self._held[kind] = self._held.get(kind, 0) + 1
            return False
        if len(self._next) >= _MAX_KINDS:
            self._next.clear()
            self._held.clear()
        self._next[kind] = now + self.interval
        held = self._held.pop(kind, 0)
        if held:
            record.msg = f"{record.getMessage()} [{held} more like it held back since the last one shown]"
            record.args = None
        return True


def limit_repeats(handlers: Iterable[logging.Handler], limiter: RepeatLimiter | None = None) -> RepeatLimiter:
    """Give the handlers one shared limiter (a handler that has one already keeps it); returns the limiter."""
    limiter = limiter or RepeatLimiter()
    for handler in handlers:
        if not any(isinstance(f, RepeatLimiter) for f in handler.filters):
            handler.addFilter(limiter)
    return limiter
