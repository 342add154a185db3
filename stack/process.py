"""Starting and stopping the stack's processes: pid files, process groups, ports."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        return sock.connect_ex((host, port)) == 0


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _cwd(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return ""


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


def _reap(pid: int) -> None:
    # A process we started in this same Python process becomes a zombie until waited for.
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def pid_alive(pid: int) -> bool:
    _reap(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


@dataclass(frozen=True)
class PidRecord:
    """What a pid file holds: the pid, and a marker (its working directory) that guards against pid reuse.

    The working directory, not the command line: redis-server rewrites its process title.
    """

    pid: int
    marker: str
    started_at: str

    def alive(self) -> bool:
        return pid_alive(self.pid) and (_cwd(self.pid) == self.marker or self.marker in _cmdline(self.pid))


class PidFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> PidRecord | None:
        try:
            data = json.loads(self.path.read_text())
            return PidRecord(pid=int(data["pid"]), marker=str(data["marker"]), started_at=str(data["started_at"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def write(self, pid: int, marker: str) -> PidRecord:
        record = PidRecord(pid=pid, marker=marker, started_at=datetime.now(UTC).isoformat())
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record.__dict__))
        os.replace(tmp, self.path)
        return record

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)

    def running(self) -> PidRecord | None:
        """The recorded process if it is still ours and alive; a stale file is removed."""
        record = self.read()
        if record is None:
            return None
        if record.alive():
            return record
        self.remove()
        return None


def spawn(
    command: list[str], log_path: Path, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start a detached process in its own session, output appended to log_path."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        log.write(f"\n--- {datetime.now(UTC).isoformat()} starting: {' '.join(command)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            command,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
    return proc


def signal_group(pid: int, sig: signal.Signals) -> bool:
    """Send ``sig`` to the process group ``pid`` leads (to the process alone if the group is not ours to signal).
    False if the process is gone."""
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
    return True


def terminate(pid: int, timeout: float = 20.0) -> bool:
    """SIGTERM the process group, then SIGKILL after timeout. True if it ended."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        if not signal_group(pid, sig):
            return True
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not pid_alive(pid):
                return True
            time.sleep(0.1)
    return not pid_alive(pid)


def wait_port_closed(port: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not port_open(port):
            return True
        time.sleep(0.1)
    return not port_open(port)
