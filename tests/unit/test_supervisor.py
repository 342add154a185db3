"""The supervisor restarts a worker that exits non-zero and stops all workers on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from harness.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]


def test_crashed_worker_is_restarted_and_sigterm_stops_everything(tmp_path: Path) -> None:
    starts = tmp_path / "starts.log"
    fake_python = tmp_path / "fake-python"
    # Stands in for `python -m processors worker --index I`: the first start crashes with 70, later ones run.
    fake_python.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        echo "$@" >> {starts}
        if [ "$(wc -l < {starts})" -eq 1 ]; then exit 70; fi
        trap 'exit 0' TERM
        while true; do sleep 0.1; done
        """))
    fake_python.chmod(0o755)
    supervisor = subprocess.Popen(
        [sys.executable, "-c", "from processors.supervisor import Supervisor; "
         f"raise SystemExit(Supervisor(1, python={str(fake_python)!r}).run())"],
        cwd=ROOT,
    )  # fmt: skip
    try:
        wait_for(lambda: starts.exists() and len(starts.read_text().splitlines()) >= 2, timeout=30,
                 message="the crashed worker started again")  # fmt: skip
        assert starts.read_text().splitlines()[0] == "-m processors worker --index 0"
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=30) == 0
        assert len(starts.read_text().splitlines()) == 2
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.wait()


def test_a_worker_in_its_backoff_holds_no_other_back_and_a_clean_exit_is_no_error(tmp_path: Path) -> None:
    starts, flag = tmp_path / "starts.log", tmp_path / "stop-worker-1"
    fake_python = tmp_path / "fake-python"
    # Worker 0 crashes at every start, so its backoff grows (1, 2, 4, 8 s); worker 1 runs until the flag appears,
    # then exits 0 as if it had stopped on its own.
    fake_python.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        echo "$5" >> {starts}
        if [ "$5" = 0 ]; then exit 70; fi
        trap 'exit 0' TERM
        while [ ! -f {flag} ]; do sleep 0.05; done
        rm -f {flag}
        exit 0
        """))
    fake_python.chmod(0o755)
    supervisor = subprocess.Popen(
        [sys.executable, "-c", "from processors.supervisor import Supervisor; "
         f"raise SystemExit(Supervisor(2, python={str(fake_python)!r}).run())"],
        cwd=ROOT, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip

    def started(index: str) -> int:
        return starts.read_text().split().count(index) if starts.exists() else 0

    try:
        wait_for(lambda: started("0") == 4, timeout=30, message="worker 0's fourth start (then an 8 s backoff)")
        flag.touch()
        wait_for(lambda: started("1") == 2, timeout=5, interval=0.05, message="worker 1 restarted")
        assert started("0") == 4, "worker 1 waited for worker 0's backoff"
        supervisor.send_signal(signal.SIGTERM)
        _, stderr = supervisor.communicate(timeout=30)
        assert supervisor.returncode == 0
        assert "worker 1 exited cleanly" in stderr and "exited with 0" not in stderr, stderr
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.wait()
