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
from driftline.redis_clients import connection_options
from driftline.settings import RedisSettings, Settings
from stack.health import Health, alertmanager_health, prometheus_health, redis_health
from stack.redis_security import USER, RedisSecurity

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

    def client_env(self) -> dict[str, str]:
        """The ``DRIFTLINE_*`` variables a client needs to reach this service (in secure mode: its credentials and
        CA); ``driftline stack up`` writes every service's to ``<data_dir>/secure.env``."""
        return {}


CLUSTER_BUS_OFFSET = 10000  # Redis's own: a cluster node talks to the others on its port + 10000
REDIS_CLUSTER_NODES = 6  # 3 primaries, each with one replica


class RedisService(Service):
    """Redis with AOF persistence. Alone it is ``redis``; as node i of a cluster ``redis-<i+1>``, on redis_port + i,
    in cluster mode with data of its own (the cluster's shape lives in its ``nodes.conf``)."""

    programs = ["redis-server"]

    def __init__(self, settings: Settings, node: int = 0, nodes: int = 1) -> None:
        if not 0 <= node < nodes:
            raise ValueError(f"node must be in 0..{nodes - 1}, found {node}")
        self.node, self.nodes = node, nodes
        self.name = "redis" if nodes == 1 else f"redis-{node + 1}"
        super().__init__(settings)

    @property
    def clustered(self) -> bool:
        return self.nodes > 1

    @property
    def port(self) -> int:
        return self.settings.stack.redis_port + self.node

    @property
    def extra_ports(self) -> list[int]:
        return [self.port + CLUSTER_BUS_OFFSET] if self.clustered else []

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def secure(self) -> bool:
        return self.settings.stack.secure

    def security(self, *, make: bool = False) -> RedisSecurity:
        """The secured node's certificate, ACL users and passwords (made with ``make``, else as made before)."""
        data_dir = self.settings.stack.data_dir
        if make:
            return RedisSecurity.ensure(data_dir, self.dir, self.settings.redis.key_prefix)
        return RedisSecurity.existing(data_dir, self.dir)

    def prepare(self) -> None:
        super().prepare()
        if self.secure:
            self.security(make=True)

    def command(self) -> list[str]:
        cluster = [
            "--cluster-enabled", "yes",
            "--cluster-config-file", str(self.dir / "nodes.conf"),
            # a primary silent for 2 s is failed over to its replica (Redis's default waits 15 s)
            "--cluster-node-timeout", "2000",
        ] if self.clustered else []  # fmt: skip
        if self.secure:
            security = self.security()
            listen = [str(security.config_file), *security.server_args(self.port, self.clustered)]
        else:
            listen = ["--port", str(self.port)]
        return [
            "redis-server",
            *listen,
            "--bind", "127.0.0.1",
            "--dir", str(self.dir),
            # predictions survive a restart: every write is appended to the AOF, fsynced every second and at
            # shutdown (a crash of the host loses at most the last second); no RDB snapshots on top
            "--save", "",
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--daemonize", "no",
            "--protected-mode", "yes",
            *cluster,
        ]  # fmt: skip

    def login(self) -> RedisSettings:
        """How the stack itself logs in to this node (probes, forming a cluster): in secure mode as ``admin`` over
        TLS, else with the settings' password if any."""
        if self.secure:
            return self.security().login(self.port)
        return RedisSettings(url=f"redis://{self.address}/0", password=self.settings.redis.password)

    def health(self) -> Health:
        login = self.login()
        return redis_health(self.port, options=connection_options(login), tls=login.tls, cluster=self.clustered)

    def client_env(self) -> dict[str, str]:
        if not self.secure:
            return {}
        security = self.security()
        return {
            "DRIFTLINE_REDIS__URL": f"rediss://127.0.0.1:{self.settings.stack.redis_port}/0",
            "DRIFTLINE_REDIS__USERNAME": USER,
            "DRIFTLINE_REDIS__PASSWORD": security.passwords[USER],
            "DRIFTLINE_REDIS__SSL_CA_CERTS": str(security.certificate.ca),
            **({"DRIFTLINE_REDIS__CLUSTER": "true"} if self.clustered else {}),
        }


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

    @property
    def config_path(self) -> Path:
        return self.dir / "alertmanager.yml"

    def prepare(self) -> None:
        super().prepare()
        self.write_config()

    def write_config(self) -> None:
        """The package's alertmanager.yml, beside the token file it names (``trainer-token``, relative to it) written
        from the trainer's token (webhook_token or webhook_token_file): Alertmanager sends the token the trainer
        expects, set in one place."""
        self.dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(monitoring_dir() / "alertmanager" / "alertmanager.yml", self.config_path)
        token = self.dir / "trainer-token"
        token.touch(mode=0o600)
        token.chmod(0o600)
        token.write_text(self.settings.trainer.token() + "\n")

    def command(self) -> list[str]:
        return [
            "prometheus-alertmanager",
            f"--config.file={self.config_path}",
            f"--storage.path={self.dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            # Clustering would bind 0.0.0.0:9094, the Kafka controller's port; one node needs none.
            "--cluster.listen-address=",
        ]

    def health(self) -> Health:
        return alertmanager_health(self.port)
