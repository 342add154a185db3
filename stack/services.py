"""The services of the local stack: what each needs installed, how it starts, how it proves it is healthy."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from abc import ABC, abstractmethod
from importlib import resources
from pathlib import Path

from driftline.errors import StackError
from driftline.settings import Settings
from stack.health import Health, alertmanager_health, prometheus_health, redis_health

logger = logging.getLogger(__name__)

# Debian package that provides each program the stack runs.
DEBIAN_PACKAGES = {
    "java": "openjdk-17-jre-headless",
    "mvn": "maven",
    "redis-server": "redis-server",
    "prometheus": "prometheus",
    "promtool": "prometheus",
    "prometheus-alertmanager": "prometheus-alertmanager",
    "amtool": "prometheus-alertmanager",
}


def ensure_programs(programs: list[str], *, install: bool) -> None:
    """Install missing programs from Debian's packages when root, else fail with the exact command."""
    missing = [p for p in programs if shutil.which(p) is None]
    if not missing:
        return
    packages = sorted({DEBIAN_PACKAGES[p] for p in missing})
    command = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
    if not install or os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise StackError(
            f"missing programs {missing}; install them with:\n  sudo apt-get update && sudo {' '.join(command)}"
        )
    logger.info("installing %s", " ".join(packages))
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(command, env=env, capture_output=True).returncode != 0:
        update = subprocess.run(["apt-get", "update"], env=env, capture_output=True, text=True)
        result = subprocess.run(command, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise StackError(
                f"could not install {packages} (apt-get exit {result.returncode}):\n"
                f"{(update.stderr or '')[-800:]}{result.stderr[-1500:]}"
            )
    still = [p for p in programs if shutil.which(p) is None]
    if still:
        raise StackError(f"installed {packages} but {still} is still not on PATH")


def monitoring_dir() -> Path:
    """The installed ``monitoring`` package's folder: Prometheus's and Alertmanager's configs are its package data."""
    path = Path(str(resources.files("monitoring")))
    if not (path / "prometheus" / "prometheus.yml").is_file():
        raise StackError(f"monitoring configs not found in {path}; reinstall Driftline (pip install .)")
    return path


class Service(ABC):
    """One process of the stack."""

    name: str
    programs: list[str]

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.dir = settings.stack.data_dir.resolve() / self.name
        self.log_path = self.dir / f"{self.name}.log"

    @property
    @abstractmethod
    def port(self) -> int: ...

    @property
    def extra_ports(self) -> list[int]:
        return []

    @property
    def marker(self) -> str:
        """A string in the command line that identifies this process as ours (its data directory)."""
        return str(self.dir)

    def prepare(self) -> None:
        """Install and configure what the service needs before it can start."""
        ensure_programs(self.programs, install=self.settings.stack.install_missing)
        self.dir.mkdir(parents=True, exist_ok=True)

    @abstractmethod
    def command(self) -> list[str]: ...

    @abstractmethod
    def health(self) -> Health: ...

    def version_hint(self) -> str:
        return ""


class RedisService(Service):
    name = "redis"
    programs = ["redis-server"]

    @property
    def port(self) -> int:
        return self.settings.stack.redis_port

    def command(self) -> list[str]:
        return [
            "redis-server",
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.dir),
            # predictions survive a restart: every write is appended to the AOF, fsynced every second and at
            # shutdown (a crash of the host loses at most the last second); no RDB snapshots on top
            "--save", "",
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--daemonize", "no",
            "--protected-mode", "yes",
        ]  # fmt: skip

    def health(self) -> Health:
        password = self.settings.redis.password
        return redis_health(self.port, password=password.get_secret_value() if password else None)


class PrometheusService(Service):
    name = "prometheus"
    programs = ["prometheus", "promtool"]

    @property
    def port(self) -> int:
        return self.settings.stack.prometheus_port

    def command(self) -> list[str]:
        config = monitoring_dir() / "prometheus" / "prometheus.yml"
        return [
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={self.dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--web.enable-lifecycle",
            "--storage.tsdb.retention.time=3d",
        ]

    def health(self) -> Health:
        return prometheus_health(self.port)


class AlertmanagerService(Service):
    name = "alertmanager"
    programs = ["prometheus-alertmanager", "amtool"]

    @property
    def port(self) -> int:
        return self.settings.stack.alertmanager_port

    def command(self) -> list[str]:
        config = monitoring_dir() / "alertmanager" / "alertmanager.yml"
        return [
            "prometheus-alertmanager",
            f"--config.file={config}",
            f"--storage.path={self.dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            # Clustering would bind 0.0.0.0:9094, the Kafka controller's port; one node needs none.
            "--cluster.listen-address=",
        ]

    def health(self) -> Health:
        return alertmanager_health(self.port)
