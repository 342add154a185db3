"""`driftline doctor`: is everything Driftline needs here and answering? One line per check, with the fix.

Checks Java, the Kafka jar cache, each service on its configured address (the stack's own health probes), the
ports the services and the trainer use, the registry's production version (the registry's own verification) and
the topics (DESIGN section 5). Every check runs in a thread of its own with a deadline, so a dead broker costs a
few seconds, never a hang. Exit 0 when every check is ok, 1 otherwise.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from driftline.entrypoint import command_parser, positive_float, run_command
from driftline.errors import DriftlineError
from driftline.redis_clients import connection_options
from driftline.settings import Settings
from driftline.topics import TopicSpec
from stack.health import Health, alertmanager_health, kafka_health, prometheus_health, redis_health
from stack.kafka import KafkaService
from stack.process import port_open
from stack.services import DEBIAN_PACKAGES

JAVA_MIN = 17
STACK_UP = "driftline stack up"


@dataclass(frozen=True)
class Check:
    """One check's outcome: ``fix`` is the exact command (or change) that mends a problem."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


def format_check(check: Check) -> str:
    """One line: ``ok      name  detail`` or ``PROBLEM name  detail  fix: command``."""
    line = f"{'ok' if check.ok else 'PROBLEM':8s}{check.name:16s}{check.detail}"
    return line if check.ok or not check.fix else f"{line}  fix: {check.fix}"


def java_major(version_output: str) -> int | None:
    """The major version in ``java -version``'s output (``"17.0.15"`` → 17, the old ``"1.8.0"`` → 8)."""
    found = re.search(r'version "(\d+)(?:\.(\d+))?', version_output)
    if found is None:
        return None
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major


def _install_java() -> str:
    return f"sudo apt-get install -y --no-install-recommends {DEBIAN_PACKAGES['java']}"


def check_java() -> Check:
    if shutil.which("java") is None:
        return Check("java", False, "java is not on PATH", _install_java())
    result = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=20)
    major = java_major(result.stderr + result.stdout)
    if major is None:
        found = (result.stderr + result.stdout).strip()[:120]
        return Check("java", False, f"cannot read the version of java: {found!r}", _install_java())
    if major < JAVA_MIN:
        return Check("java", False, f"java {major} found; Kafka needs {JAVA_MIN} or newer", _install_java())
    return Check("java", True, f"java {major}")


def check_jars(settings: Settings) -> Check:
    kafka = KafkaService(settings)
    if kafka.jars_cached():
        return Check("kafka jars", True, f"Kafka {kafka.version} in {kafka.libs}")
    if shutil.which("mvn") is None:
        install = f"sudo apt-get install -y --no-install-recommends {DEBIAN_PACKAGES['mvn']} && {STACK_UP}"
        return Check("kafka jars", False, f"no Kafka {kafka.version} jars in {kafka.libs}, and no mvn to fetch them",
                     install)  # fmt: skip
    return Check("kafka jars", False, f"no Kafka {kafka.version} jars in {kafka.libs}", STACK_UP)


def _address(host_port: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(f"//{host_port.strip()}")
    return parts.hostname or "127.0.0.1", parts.port or default_port


def service_check(name: str, host: str, port: int, health: Health, port_setting: str) -> Check:
    """A service's health as a check: down → start the stack; its port answered by something else → free it."""
    where = f"{host}:{port}"
    if health.healthy:
        detail = f" ({health.detail})" if health.detail else ""
        return Check(name, True, f"{where} {health.version}".rstrip() + detail)
    if port_open(port, host):
        return Check(name, False, f"{where} is taken by something that is not a healthy {name} ({health.detail})",
                     f"stop what listens on {where}, or choose another port ({port_setting})")  # fmt: skip
    return Check(name, False, f"nothing listening on {where}", STACK_UP)


def check_kafka(settings: Settings) -> Check:
    host, port = _address(settings.kafka.bootstrap_servers.split(",")[0], 9092)
    return service_check("kafka", host, port, kafka_health(port, host, kafka=settings.kafka),
                         "DRIFTLINE_KAFKA__BOOTSTRAP_SERVERS")


def check_redis(settings: Settings) -> Check:
    url = urlsplit(settings.redis.url)
    host, port = url.hostname or "127.0.0.1", url.port or 6379
    options = connection_options(settings.redis)
    if "password" not in options and url.password:
        options["password"] = url.password
    health = redis_health(port, host, options, tls=settings.redis.tls, cluster=settings.redis.cluster)
    return service_check("redis", host, port, health, "DRIFTLINE_REDIS__URL")


def check_prometheus(settings: Settings) -> Check:
    port = settings.stack.prometheus_port
    return service_check("prometheus", "127.0.0.1", port, prometheus_health(port), "DRIFTLINE_STACK__PROMETHEUS_PORT")


def check_alertmanager(settings: Settings) -> Check:
    port = settings.stack.alertmanager_port
    return service_check("alertmanager", "127.0.0.1", port, alertmanager_health(port),
                         "DRIFTLINE_STACK__ALERTMANAGER_PORT")  # fmt: skip


def _answers(url: str, expected: bytes) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200 and expected in response.read()
    except (OSError, urllib.error.URLError, ValueError):
        return False


def port_check(name: str, port: int, setting: str, owner: str, ours: bool | None) -> Check:
    """A port Driftline binds: free, or in use by its ``owner`` (``ours``), or taken by something else.
    ``ours`` is None when the port is free."""
    if ours is None:
        return Check(name, True, f"{port} free")
    if ours:
        return Check(name, True, f"{port} in use by {owner}")
    return Check(name, False, f"{port} is taken by something else",
                 f"stop what listens on 127.0.0.1:{port}, or choose another port ({setting})")  # fmt: skip


def check_ports(settings: Settings) -> list[Check]:
    """The ports of the services are judged by their own checks; here the others Driftline binds (the local
    stack's Kafka controller is ours when the stack's Kafka answers)."""
    trainer, metrics = settings.trainer.port, settings.processor.metrics_port_base
    controller = settings.stack.kafka_controller_port
    checks = []
    for name, port, setting, owner, probe in (
        (
            "controller port",
            controller,
            "DRIFTLINE_STACK__KAFKA_CONTROLLER_PORT",
            "Kafka's controller",
            lambda: kafka_health(settings.stack.kafka_port, kafka=settings.kafka).healthy,
        ),
        (
            "trainer port",
            trainer,
            "DRIFTLINE_TRAINER__PORT",
            "the trainer",
            lambda: _answers(f"http://{settings.trainer.host}:{trainer}/healthz", b""),
        ),
        (
            "worker port",
            metrics,
            "DRIFTLINE_PROCESSOR__METRICS_PORT_BASE",
            "worker 0's /metrics",
            lambda: _answers(f"http://{settings.processor.metrics_host}:{metrics}/metrics", b"driftline_"),
        ),
    ):
        checks.append(port_check(name, port, setting, owner, probe() if port_open(port) else None))
    return checks


def check_registry(settings: Settings) -> Check:
    from driftline.registry import Registry

    root, model = settings.registry.root, settings.registry.model_name
    train = "driftline train"
    if not (root / model).is_dir():
        return Check("registry", False, f"no model {model!r} under {root}", train)
    registry = Registry(root, model)
    try:
        alias = registry.alias()
        if alias is None:
            versions = [info.version for info in registry.versions()]
            fix = f"driftline models promote {versions[-1]}" if versions else train
            return Check("registry", False, f"{model!r} has no production version (versions: {versions})", fix)
        manifest = registry.verify(alias.version)
    except DriftlineError as exc:
        return Check("registry", False, f"production version does not verify: {exc}",
                     f"driftline models rollback, or {train}")  # fmt: skip
    except OSError as exc:
        return Check("registry", False, f"cannot read {root}: {exc}", f"check the permissions of {root}")
    return Check("registry", True, f"production is version {alias.version}, {len(manifest.files)} files verified")


def topics_check(specs: Sequence[TopicSpec], existing: Mapping[str, int]) -> Check:
    """Every topic present with its configured partitions (``existing``: name → partitions)."""
    missing = [spec.name for spec in specs if spec.name not in existing]
    if missing:
        return Check("topics", False, f"missing {', '.join(missing)}", "driftline topics create")
    wrong = [f"{spec.name} has {existing[spec.name]} partitions, the settings say {spec.partitions}"
             for spec in specs if existing[spec.name] != spec.partitions]  # fmt: skip
    if wrong:
        return Check("topics", False, "; ".join(wrong),
                     "set the DRIFTLINE_KAFKA__*_PARTITIONS settings to the topics' counts, or delete the topics "
                     "and run driftline topics create")  # fmt: skip
    return Check("topics", True, f"{len(specs)} topics, partitions as configured")


def check_topics(settings: Settings) -> Check:
    from driftline.kafka_admin import admin_client, specs_for

    kafka = settings.kafka.model_copy(update={"request_timeout_ms": min(settings.kafka.request_timeout_ms, 5000)})
    specs = specs_for(kafka)
    addresses = [_address(server, 9092) for server in kafka.bootstrap_servers.split(",")]
    if not any(port_open(port, host) for host, port in addresses):
        return Check("topics", False, f"cannot check: nothing answers on {kafka.bootstrap_servers}", STACK_UP)
    try:
        admin = admin_client(kafka, client_id="driftline-doctor")
    except DriftlineError:
        return Check("topics", False, f"cannot check: Kafka at {kafka.bootstrap_servers} does not answer", STACK_UP)
    try:
        described = admin.describe_topics([spec.name for spec in specs])
    finally:
        admin.close()
    existing = {t["name"]: len(t["partitions"]) for t in described if t.get("error_code", 0) == 0}
    return topics_check(specs, existing)


def run_with_deadline(name: str, check: Callable[[], Check | list[Check]], seconds: float) -> Callable[[], list[Check]]:
    """Start ``check`` in a daemon thread now; the returned function waits for it until ``seconds`` after start
    (a thread still waiting on a dead service is abandoned, never joined)."""
    outcome: list[Check] = []
    started = time.monotonic()

    def target() -> None:
        try:
            result = check()
        except Exception as exc:  # a check that breaks is itself a finding, reported like the others
            result = Check(name, False, f"the check failed: {exc.__class__.__name__}: {exc}")
        outcome.extend(result if isinstance(result, list) else [result])

    thread = threading.Thread(target=target, name=f"doctor-{name}", daemon=True)
    thread.start()

    def wait() -> list[Check]:
        thread.join(max(0.0, started + seconds - time.monotonic()))
        if thread.is_alive():
            return [Check(name, False, f"no answer within {seconds:g}s", STACK_UP)]
        return outcome

    return wait


def diagnose(settings: Settings, deadline_seconds: float) -> list[Check]:
    """Every check, run at the same time, each within ``deadline_seconds``; in a fixed order."""
    checks: dict[str, Callable[[], Check | list[Check]]] = {
        "java": check_java,
        "kafka jars": lambda: check_jars(settings),
        "kafka": lambda: check_kafka(settings),
        "redis": lambda: check_redis(settings),
        "prometheus": lambda: check_prometheus(settings),
        "alertmanager": lambda: check_alertmanager(settings),
        "ports": lambda: check_ports(settings),
        "registry": lambda: check_registry(settings),
        "topics": lambda: check_topics(settings),
    }
    waits = [run_with_deadline(name, check, deadline_seconds) for name, check in checks.items()]
    return [check for wait in waits for check in wait()]


def _doctor(args: argparse.Namespace, settings: Settings) -> int:
    checks = diagnose(settings, args.deadline)
    for check in checks:
        print(format_check(check), flush=True)
    problems = sum(not check.ok for check in checks)
    print(f"{problems} problem(s)" if problems else "all ok")
    return 1 if problems else 0


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser("driftline doctor", "check Java, the Kafka jars, the services, ports, registry and "
                            "topics; print the fix for each problem (exit 1 if there is one)")  # fmt: skip
    parser.add_argument("--deadline", type=positive_float, default=15.0,
                        help="seconds each check may take (default 15)")  # fmt: skip
    parser.set_defaults(handler=_doctor)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(build_parser(), argv)
