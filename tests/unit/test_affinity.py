"""CPU pinning: which CPU a worker gets; a block's pin, which its new threads inherit and which then lifts; a whole
process's pin; and CPUs that cannot be had, refused clearly."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from driftline.affinity import available_cpus, cpu_for, pin_to, pinned
from driftline.errors import ConfigError

pytestmark = pytest.mark.unit


def test_workers_take_the_available_cpus_in_turn() -> None:
    cpus = available_cpus()
    assert cpus == sorted(os.sched_getaffinity(0))
    assert [cpu_for(i) for i in range(2 * len(cpus))] == cpus + cpus


def _new_thread_cpus() -> set[int]:
    """The CPUs a thread started now may run on."""
    seen: list[set[int]] = []
    thread = threading.Thread(target=lambda: seen.append(os.sched_getaffinity(0)))
    thread.start()
    thread.join()
    return seen[0]


def test_a_pin_holds_for_the_block_and_its_new_threads_then_lifts() -> None:
    before = os.sched_getaffinity(0)
    cpu = available_cpus()[-1]
    with pinned(cpu):
        assert os.sched_getaffinity(0) == {cpu}
        assert _new_thread_cpus() == {cpu}
    assert os.sched_getaffinity(0) == before
    assert _new_thread_cpus() == before


def test_a_pin_lifts_when_the_block_raises() -> None:
    before = os.sched_getaffinity(0)
    with pytest.raises(RuntimeError), pinned(available_cpus()[0]):
        raise RuntimeError("boom")
    assert os.sched_getaffinity(0) == before


def test_no_cpu_means_no_pin() -> None:
    before = os.sched_getaffinity(0)
    with pinned(None):
        assert os.sched_getaffinity(0) == before


def test_a_cpu_this_process_may_not_use_is_refused_clearly() -> None:
    before = os.sched_getaffinity(0)
    missing = max(available_cpus()) + 1
    with pytest.raises(ConfigError, match=rf"cannot pin to CPU {missing}: this process may use CPUs \["):
        pin_to(missing)
    assert os.sched_getaffinity(0) == before


_PIN_A_PROCESS = """
import os, sys, threading
from pathlib import Path
from driftline.affinity import pin_process
started, release = threading.Event(), threading.Event()
earlier = threading.Thread(target=lambda: (started.set(), release.wait()))
earlier.start()
started.wait()
pin_process(int(sys.argv[1]))
later = threading.Thread(target=release.wait)
later.start()
print(sorted({cpu for t in Path("/proc/self/task").iterdir() for cpu in os.sched_getaffinity(int(t.name))}))
release.set()
"""


def test_pinning_a_process_pins_its_threads_started_before_and_after() -> None:
    cpu = available_cpus()[-1]
    done = subprocess.run([sys.executable, "-c", _PIN_A_PROCESS, str(cpu)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"[{cpu}]"


def test_the_producer_refuses_a_cpu_it_may_not_use_before_it_connects() -> None:
    missing = max(available_cpus()) + 1
    driftline = Path(sys.executable).parent / "driftline"
    env = {**os.environ, "DRIFTLINE_KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:1"}  # nothing listens: it must not get there
    done = subprocess.run([str(driftline), "produce", "-n", "1", "--cpu", str(missing)],
                          capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
    assert done.returncode == 1
    assert f"cannot pin to CPU {missing}" in done.stderr
