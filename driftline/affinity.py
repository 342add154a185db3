"""Pinning a process to one CPU.

A Python process runs one thread at a time (the GIL). Threads that take turns holding it (a worker's event loop
and TensorFlow's; the producer's loop and kafka-python's sender, before the producer moved to librdkafka) hand it
over faster when they share one core than when the scheduler spreads them over two; N workers pinned to N cores
each keep a core of their own (measured: docs/performance.md).

Linux only (``os.sched_setaffinity``, which pins one thread; the threads a thread starts inherit its CPUs).
``pin_process`` pins every thread the process has, those that imports started (OpenBLAS's, jemalloc's) included;
``pinned`` pins the calling thread, and so the threads it starts, for a block.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from driftline.errors import ConfigError


def available_cpus() -> list[int]:
    """The CPUs this process may run on, in order."""
    if not hasattr(os, "sched_getaffinity"):
        raise ConfigError("CPU pinning needs Linux (os.sched_getaffinity is not available here)")
    return sorted(os.sched_getaffinity(0))


def cpu_for(index: int) -> int:
    """The CPU for worker ``index``: the index-th available CPU, wrapping around when there are more workers."""
    cpus = available_cpus()
    return cpus[index % len(cpus)]


def pin_to(cpu: int) -> None:
    """Pin the calling thread, and the threads it starts from now on, to ``cpu``."""
    _check(cpu)
    os.sched_setaffinity(0, {cpu})


def pin_process(cpu: int) -> None:
    """Pin every thread of this process to ``cpu``, and so every thread they start from now on."""
    _check(cpu)
    for task in Path("/proc/self/task").iterdir():
        with suppress(ProcessLookupError):  # a thread that ended meanwhile
            os.sched_setaffinity(int(task.name), {cpu})


def _check(cpu: int) -> None:
    cpus = available_cpus()
    if cpu not in cpus:
        raise ConfigError(f"cannot pin to CPU {cpu}: this process may use CPUs {cpus}")


@contextmanager
def pinned(cpu: int | None) -> Iterator[None]:
    """Run the block pinned to ``cpu`` (no pin for None), then restore the calling thread's CPUs."""
    if cpu is None:
        yield
        return
    before = os.sched_getaffinity(0)
    pin_to(cpu)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)
