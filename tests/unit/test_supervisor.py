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
