"""`driftline stack up | down | status | logs`: the local stack on 127.0.0.1, owned through pid files."""

from __future__ import annotations

import logging
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from driftline.errors import StackError
from driftline.settings import Settings
from driftline.signing import ensure_keys
from stack.health import Health
from stack.kafka import KafkaService
from stack.process import PidFile, port_open, signal_group, spawn, terminate, wait_port_closed
from stack.redis_cluster import form_redis_cluster
from stack.services import REDIS_CLUSTER_NODES, AlertmanagerService, PrometheusService, RedisService, Service

logger = logging.getLogger(__name__)

N = TypeVar("N", bound=Service)


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    port: int
    pid: int | None
    healthy: bool
    version: str
    owner: str  # "driftline" (we started it), "external" (reused), or "-" (not running)
    detail: str = ""


class Stack:
    """The four services of the local stack (Kafka as one node, or as a cluster of ``stack.kafka_brokers``; Redis as
    one server, or with ``stack.redis_cluster`` a Redis Cluster of 3 primaries and 3 replicas). Up is idempotent;
    down stops only what up started. The node counts a stack was started with are kept in its data directory, so
    ``status`` and ``down`` see the same nodes without being told; so is secure mode (``stack.secure``: Kafka on
    SASL_SSL, Redis with ACL and TLS, the client settings in ``<data_dir>/secure.env``)."""

    def __init__(self, settings: Settings, *, progress: Callable[[str], None] | None = None) -> None:
        data = settings.stack.data_dir.resolve()
        self._brokers_file = data / "kafka-brokers"
        self._redis_file = data / "redis-nodes"
        self._secure_file = data / "secure"
        self.env_file = data / "secure.env"
        self.wanted_secure = settings.stack.secure
        self.secure = self._running_secure_or_wanted(data)
        settings = settings.model_copy(update={"stack": settings.stack.model_copy(update={"secure": self.secure})})
        self.settings = settings
        self.wanted_brokers = settings.stack.kafka_brokers
        self.wanted_redis = REDIS_CLUSTER_NODES if settings.stack.redis_cluster else 1
        self.kafka_nodes: list[KafkaService] = self._running_or_wanted(
            self._brokers_file, self.wanted_brokers, lambda n: [KafkaService(settings, i, n) for i in range(n)])
        self.redis_nodes: list[RedisService] = self._running_or_wanted(
            self._redis_file, self.wanted_redis, lambda n: [RedisService(settings, i, n) for i in range(n)])
        self.brokers = len(self.kafka_nodes)
        self.services: list[Service] = [
            *self.kafka_nodes,
            *self.redis_nodes,
            PrometheusService(settings),
            AlertmanagerService(settings),
        ]
        self._progress = progress or (lambda message: logger.info("%s", message))
        # Processes started by this object, kept so they can be reaped (the CLI exits and leaves them running).
        self._children: dict[str, subprocess.Popen[bytes]] = {}

    def service(self, name: str) -> Service:
        for service in self.services:
            if service.name == name:
                return service
        raise StackError(f"no service {name!r}; the stack has {[s.name for s in self.services]}")

    def _pidfile(self, service: Service) -> PidFile:
        return PidFile(service.dir / f"{service.name}.pid")

    def _running_secure_or_wanted(self, data: Path) -> bool:
        """Secure mode as asked, unless the stack that still runs (any of its pid files) was started otherwise."""
        recorded = self._secure_file.exists()
        if recorded != self.wanted_secure and any(PidFile(path).running() for path in data.glob("*/*.pid")):
            return recorded
        return self.wanted_secure

    def _running_or_wanted(self, record: Path, wanted: int, nodes: Callable[[int], list[N]]) -> list[N]:
        """The nodes asked for, unless a different number recorded in ``record`` still runs: what runs counts."""
        try:
            recorded: int | None = int(record.read_text())
        except (FileNotFoundError, ValueError):
            recorded = None
        if recorded is not None and recorded != wanted:
            running = nodes(recorded)
            if any(self._pidfile(node).running() for node in running):
                return running
        return nodes(wanted)

    @property
    def bootstrap_servers(self) -> str:
        return self.kafka_nodes[0].bootstrap_servers

    @property
    def redis_clustered(self) -> bool:
        return len(self.redis_nodes) > 1

    def up(self) -> list[ServiceStatus]:
        """Start what is not running, reuse what already answers, and wait until every service is healthy (and a
        Redis Cluster formed)."""
        for what, have, wanted, unit in (("Kafka", self.brokers, self.wanted_brokers, "broker(s)"),
                                         ("Redis", len(self.redis_nodes), self.wanted_redis, "node(s)")):  # fmt: skip
            if have != wanted:
                raise StackError(f"the stack in {self.settings.stack.data_dir} runs {what} with {have} {unit}, not "
                                 f"{wanted}; `driftline stack down` first")  # fmt: skip
        if self.secure != self.wanted_secure:
            raise StackError(f"the stack in {self.settings.stack.data_dir} runs {'secured' if self.secure else 'plain'}"
                             f", not {'secured' if self.wanted_secure else 'plain'}; `driftline stack down` first")
        self._brokers_file.parent.mkdir(parents=True, exist_ok=True)
        self._brokers_file.write_text(str(self.brokers))
        self._redis_file.write_text(str(len(self.redis_nodes)))
        if self.secure:
            self._secure_file.write_text("kafka SASL_SSL, redis ACL+TLS\n")
        else:
            self._secure_file.unlink(missing_ok=True)
        keys = self.settings.stack.data_dir / "keys"
        if ensure_keys(keys):  # the registry's settings default to this pair: local versions are signed and checked
            self._progress(f"registry signing keys: made {keys} (registry.key, registry.pub)")
        deadline = time.monotonic() + self.settings.stack.health_timeout_seconds
        for service in self.services:
            if self._pidfile(service).running():
                self._progress(f"{service.name}: already running (ours)")
                continue
            if port_open(service.port):
                health = service.health()
                if not health.healthy:
                    raise StackError(
                        f"port {service.port} is taken by something that is not a healthy {service.name} "
                        f"({health.detail}); stop it or choose another port "
                        f"(DRIFTLINE_STACK__{service.name.upper()}_PORT)"
                    )
                self._progress(f"{service.name}: reusing the one already answering on port {service.port}")
                continue
            for port in service.extra_ports:
                if port_open(port):
                    raise StackError(f"{service.name} needs port {port}, which something else is using")
            self._progress(f"{service.name}: preparing")
            service.prepare()
            gone = self._children.pop(service.name, None)
            if gone is not None:
                gone.poll()  # one this object started that has died since: reap it
            child = spawn(service.command(), service.log_path, cwd=service.dir)
            self._children[service.name] = child
            self._pidfile(service).write(child.pid, service.marker)
            self._progress(f"{service.name}: started (pid {child.pid}, port {service.port})")
        for service in self.services:
            self._wait_healthy(service, deadline)
        if self.redis_clustered:
            form_redis_cluster(self.redis_nodes, self.settings.redis, deadline, self._progress)
        if self.secure:
            self._write_env_file()
        return self.status()

    def client_env(self) -> dict[str, str]:
        """The ``DRIFTLINE_*`` variables every Driftline process needs for this stack (its services' together)."""
        env: dict[str, str] = {}
        for service in self.services:
            env.update(service.client_env())
        return env

    def _write_env_file(self) -> None:
        """``<data_dir>/secure.env`` (mode 0600): ``export`` lines a shell can ``source``, values shell-quoted."""
        import shlex

        lines = [f"# Driftline's secured local stack ({self.settings.stack.data_dir}): source this file\n"]
        lines += [f"export {key}={shlex.quote(value)}\n" for key, value in self.client_env().items()]
        self.env_file.touch(mode=0o600)
        self.env_file.chmod(0o600)
        self.env_file.write_text("".join(lines))

    def _wait_healthy(self, service: Service, deadline: float) -> Health:
        health = Health(False, detail="not probed yet")
        while time.monotonic() < deadline:
            pidfile = self._pidfile(service)
            if pidfile.read() is not None and pidfile.running() is None:
                raise StackError(
                    f"{service.name} exited during start-up; last lines of {service.log_path}:\n"
                    f"{self.logs(service.name, lines=25)}"
                )
            health = service.health()
            if health.healthy:
                self._progress(f"{service.name}: healthy {health.version}".rstrip())
                return health
            time.sleep(0.25)
        raise StackError(
            f"{service.name} was not healthy within {self.settings.stack.health_timeout_seconds:.0f}s "
            f"({health.detail}); see {service.log_path}"
        )

    def down(self) -> list[str]:
        """Stop the processes this stack started (never a reused one). Returns the names stopped."""
        stopped = []
        if self.brokers > 1:
            # A cluster's nodes stop together: a node stopped after the others has no controller quorum left to
            # grant its controlled shutdown, and would wait for one until it is killed.
            for node in self.kafka_nodes:
                record = self._pidfile(node).running()
                if record is not None:
                    signal_group(record.pid, signal.SIGTERM)
        for service in reversed(self.services):
            pidfile = self._pidfile(service)
            record = pidfile.running()
            child = self._children.pop(service.name, None)
            if record is None:  # gone already (a cluster's node may stop before its turn comes)
                pidfile.remove()
                if child is not None:
                    child.wait(timeout=5)
                continue
            self._progress(f"{service.name}: stopping pid {record.pid}")
            if not terminate(record.pid, timeout=30.0):
                raise StackError(f"{service.name} (pid {record.pid}) did not stop")
            pidfile.remove()
            if child is not None:
                child.wait(timeout=5)
            for port in [service.port, *service.extra_ports]:
                if not wait_port_closed(port):
                    raise StackError(f"{service.name} stopped but port {port} is still bound")
            stopped.append(service.name)
        if not any(self._pidfile(service).running() for service in self.services):
            self._brokers_file.unlink(missing_ok=True)
            self._redis_file.unlink(missing_ok=True)
            self._secure_file.unlink(missing_ok=True)
        return stopped

    def status(self) -> list[ServiceStatus]:
        rows = []
        for service in self.services:
            record = self._pidfile(service).running()
            listening = port_open(service.port)
            health = service.health() if listening else Health(False, detail="nothing listening")
            owner = "driftline" if record else ("external" if listening else "-")
            rows.append(
                ServiceStatus(
                    name=service.name,
                    port=service.port,
                    pid=record.pid if record else None,
                    healthy=health.healthy,
                    version=health.version or (service.version_hint() if health.healthy else ""),
                    owner=owner,
                    detail=health.detail,
                )
            )
        return rows

    def healthy(self) -> bool:
        return all(row.healthy for row in self.status())

    def logs(self, name: str | None = None, *, lines: int = 50) -> str:
        chosen = [self.service(name)] if name else self.services
        out = []
        for service in chosen:
            try:
                text = service.log_path.read_text(errors="replace").splitlines()[-lines:]
            except FileNotFoundError:
                text = ["(no log yet)"]
            out.append(f"==> {service.name}: {service.log_path}\n" + "\n".join(text))
        return "\n".join(out)
