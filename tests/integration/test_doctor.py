"""`driftline doctor` as an operator runs it: against the live stack, and against settings that point nowhere."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from harness.processes import ROOT
from stack import Stack


def _doctor(env_update: dict[str, str], timeout: float = 60) -> tuple[int, str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTLINE_")}
    env.update(env_update)
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "driftline.cli", "doctor", "--deadline", "10"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=timeout)  # fmt: skip
    return result.returncode, result.stdout + result.stderr, time.monotonic() - started


def _line(output: str, name: str) -> str:
    (line,) = [line for line in output.splitlines() if line[8:24].rstrip() == name]  # the name column
    return line


def test_the_live_stack_is_all_ok(stack: Stack, tmp_path: Path) -> None:
    code, output, _ = _doctor({"DRIFTLINE_REGISTRY__ROOT": str(tmp_path)})
    for name in ("java", "kafka", "redis", "prometheus", "alertmanager", "topics"):
        assert _line(output, name).startswith("ok "), output
    assert _line(output, "registry").endswith("fix: driftline train"), output  # an empty registry of its own
    assert code == 1 and output.rstrip().endswith("1 problem(s)"), output


def test_wrong_settings_exit_1_within_the_deadline_and_name_the_fixes(stack: Stack, tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]  # bound, never listening: a closed port
        code, output, seconds = _doctor({
            "DRIFTLINE_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{closed}",
            "DRIFTLINE_REGISTRY__ROOT": str(tmp_path),
        })  # fmt: skip
    assert code == 1, output
    assert seconds < 30, f"doctor took {seconds:.0f}s"
    assert _line(output, "kafka").endswith("fix: driftline stack up"), output
    assert f"127.0.0.1:{closed}" in _line(output, "kafka")
    assert _line(output, "topics").endswith("fix: driftline stack up"), output
    assert _line(output, "registry").endswith("fix: driftline train"), output
    assert _line(output, "redis").startswith("ok "), output
    assert "Traceback" not in output
