"""`driftline process --workers N`: runs N worker processes in one consumer group and restarts crashed ones.

A worker exits non-zero when it must not go on (an unexpected error; stopping with a batch it could not
write); its batch was not acknowledged, so a restarted worker consumes it again. SIGINT/SIGTERM stop all.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from types import FrameType

logger = logging.getLogger(__name__)


@dataclass
class _Child:
    index: int
    process: subprocess.Popen[bytes] | None  # None while it waits out its backoff
    restarts: int = 0
    started: float = field(default_factory=time.monotonic)
    restart_at: float = 0.0


class Supervisor:
    """Polls every worker every 0.2 s; a worker waiting out its backoff holds no other back."""

    def __init__(self, workers: int, *, max_backoff: float = 30.0, python: str = sys.executable) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, found {workers}")
        self.workers = workers
        self.max_backoff = max_backoff
        self.python = python
        self._children: dict[int, _Child] = {}
        self._stopping = False

    def _spawn(self, index: int) -> subprocess.Popen[bytes]:
        command = [self.python, "-m", "processors", "worker", "--index", str(index)]
        logger.info("starting worker %d: %s", index, " ".join(command))
        return subprocess.Popen(command)  # inherits this process's environment, DRIFTLINE_* settings included

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self._stopping = True
        for child in self._children.values():
            if child.process is not None and child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)

    def run(self) -> int:
        """Until a signal: keep N workers alive. Returns 0 when all stopped cleanly after a signal."""
        previous = {s: signal.signal(s, self._stop) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            for index in range(self.workers):
                self._children[index] = _Child(index, self._spawn(index))
            while self._children:
                time.sleep(0.2)
                for index, child in list(self._children.items()):
                    self._watch(index, child)
            return 0
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            for child in self._children.values():
                if child.process is not None and child.process.poll() is None:
                    child.process.kill()
                    child.process.wait()

    def _watch(self, index: int, child: _Child) -> None:
        now = time.monotonic()
        if child.process is None:  # waiting to restart
            if self._stopping:
                del self._children[index]
            elif now >= child.restart_at:
                self._children[index] = _Child(index, self._spawn(index), restarts=child.restarts + 1)
            return
        code = child.process.poll()
        if code is None:
            return
        if self._stopping:
            logger.info("worker %d stopped (exit %d)", index, code)
            del self._children[index]
            return
        uptime = now - child.started
        backoff = 0.0 if uptime > 60 else min(2.0 ** min(child.restarts, 5), self.max_backoff)
        if code == 0:  # nothing asked it to stop: whatever ended it, the partitions it had need a worker
            logger.warning("worker %d exited cleanly after %.0fs without being asked to; restarting in %.0fs", index,
                           uptime, backoff)  # fmt: skip
        else:
            logger.error("worker %d exited with %d after %.0fs; restarting in %.0fs", index, code, uptime, backoff)
        child.process, child.restart_at = None, now + backoff
