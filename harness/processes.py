"""Real worker processes for tests: started with a test's own settings (as environment), stopped for sure."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from pydantic import SecretStr

from driftline.settings import KafkaSettings, RedisSettings
from harness.scrape import scrape, serving_version
from harness.waiting import wait_for

ROOT = Path(__file__).resolve().parents[1]  # the checkout: workers run from it


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def settings_env(**sections: dict[str, object]) -> dict[str, str]:
    """``settings_env(kafka={"topic_prefix": "x."})`` → ``{"DRIFTLINE_KAFKA__TOPIC_PREFIX": "x."}`` (secrets
    revealed: the process started with it must log in)."""
    return {
        f"DRIFTLINE_{section.upper()}__{key.upper()}": value.get_secret_value() if isinstance(value, SecretStr)
        else str(value)
        for section, values in sections.items()
        for key, value in values.items()
    }  # fmt: skip


KAFKA_CONNECTION = ("bootstrap_servers", "security_protocol", "sasl_mechanism", "sasl_username", "sasl_password",
                    "ssl_cafile", "ssl_certfile", "ssl_keyfile")  # fmt: skip


def kafka_env(kafka: KafkaSettings) -> dict[str, str]:
    """How ``kafka`` connects (servers, protocol, login, TLS files) as environment: a process started with it
    reaches the same brokers the same way."""
    return settings_env(kafka={name: getattr(kafka, name) for name in KAFKA_CONNECTION
                               if getattr(kafka, name) is not None})  # fmt: skip


REDIS_CONNECTION = ("url", "username", "password", "ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "cluster")


def redis_env(redis: RedisSettings) -> dict[str, str]:
    """How ``redis`` connects (url, ACL login, TLS files, cluster) as environment, as ``kafka_env`` for Kafka."""
    return settings_env(redis={name: getattr(redis, name) for name in REDIS_CONNECTION
                               if getattr(redis, name) is not None})  # fmt: skip


def spawn_processors(args: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """``python -m processors ARGS`` from the checkout, with only the given DRIFTLINE_* settings, logging to a file."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTLINE_")}
    with log_path.open("ab") as log:
        return subprocess.Popen([sys.executable, "-m", "processors", *args], cwd=ROOT, env={**clean, **env},
                                stdout=log, stderr=subprocess.STDOUT)  # fmt: skip


def stop_process(process: subprocess.Popen[bytes] | None, timeout: float = 60) -> int | None:
    """SIGTERM, then SIGKILL after ``timeout``; the exit code (None if it never started)."""
    if process is None:
        return None
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


class WorkerProcess:
    """``python -m processors worker --index I`` with the given DRIFTLINE_* environment."""

    def __init__(self, env: dict[str, str], index: int, log_dir: Path, metrics_port: int) -> None:
        self.env = env
        self.index = index
        self.log_path = log_dir / f"worker-{index}.log"
        self.metrics_port = metrics_port
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        self.process = spawn_processors(["worker", "--index", str(self.index)], self.env, self.log_path)
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self, tail: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except FileNotFoundError:
            return ""

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Samples of /metrics as {(name, sorted labels): value}; empty if the page does not answer."""
        return scrape(self.metrics_port)

    def metric(self, name: str, **labels: str) -> float:
        return self.metrics().get((name, tuple(sorted(labels.items()))), 0.0)

    def serving_version(self) -> int | None:
        return serving_version(self.metrics())

    def wait_serving(self, timeout: float = 120) -> None:
        def serving() -> bool:
            assert self.alive(), f"worker {self.index} died:\n{self.log()}"
            return self.serving_version() is not None

        wait_for(serving, timeout=timeout, interval=0.5, message=f"worker {self.index} serving a model")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self, timeout: float = 60) -> int | None:
        return stop_process(self.process, timeout)


class SupervisedWorkers:
    """``python -m processors run --workers N`` (the supervisor restarts a worker that exits, as in production) with
    the given DRIFTLINE_* environment; worker *i* serves /metrics on ``metrics_base + i``."""

    def __init__(self, env: dict[str, str], workers: int, log_path: Path, metrics_base: int) -> None:
        self.env = {**env, "DRIFTLINE_PROCESSOR__METRICS_PORT_BASE": str(metrics_base)}
        self.workers = workers
        self.log_path = log_path
        self.ports = [metrics_base + i for i in range(workers)]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> SupervisedWorkers:
        self.process = spawn_processors(["run", "--workers", str(self.workers)], self.env, self.log_path)
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_serving(self, timeout: float = 120) -> None:
        wait_for(lambda: all(serving_version(scrape(p)) is not None for p in self.ports), timeout=timeout,
                 interval=0.5, message=f"{self.workers} supervised workers serving")  # fmt: skip

    def scored(self) -> float:
        """Records scored by the workers running now (a restarted worker counts from 0 again)."""
        return sum(scrape(p).get(("driftline_records_total", (("outcome", "scored"),)), 0.0) for p in self.ports)

    def restarts(self) -> int:
        return self.log().count("restarting in")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 60) -> int | None:
        return stop_process(self.process, timeout)
