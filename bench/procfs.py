"""What the benchmark reads of a process and of the host from /proc (Linux)."""

from __future__ import annotations

import os
from pathlib import Path


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by process ``pid`` (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def host_ticks() -> list[int]:
    """The machine's CPU time so far by kind: the first line of /proc/stat (user nice system idle iowait irq
    softirq steal ...), in clock ticks summed over every CPU."""
    return [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")
