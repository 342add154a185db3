"""docker-compose.yml, as Docker Compose itself reads it: loaded by compose-go (tools/composecheck: interpolation,
schema validation, normalization), then checked to run the loop of `make demo` and to keep its data."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from driftline.settings import KafkaSettings

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "composecheck"
TOKEN = "DRIFTLINE_TRAINER__WEBHOOK_TOKEN"  # trainer.webhook_token, the one name of the webhook's token
DRIFTLINE = {"processor", "trainer", "producer", "setup"}


def _go() -> str:
    go = shutil.which("go") or next((p for p in ("/usr/local/go/bin/go",) if Path(p).is_file()), None)
    if go is None:
        pytest.fail("`go` is not installed: the compose test loads docker-compose.yml with compose-go "
                    "(tools/composecheck); install Go 1.24 or newer (https://go.dev/dl/)", pytrace=False)  # fmt: skip
    return go


def run_loader(**env: str) -> subprocess.CompletedProcess[str]:
    """compose-go on docker-compose.yml, with the host environment cleared of every setting the file interpolates."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DRIFTLINE_", "COMPOSE_"))}
    return subprocess.run(
        [_go(), "run", ".", str(ROOT / "docker-compose.yml")],
        cwd=TOOL, env={**base, "GOTOOLCHAIN": "local", **env}, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def load(**env: str) -> dict[str, Any]:
    """The normalized project."""
    result = run_loader(**env)
    assert result.returncode == 0, f"compose-go refused docker-compose.yml:\n{result.stderr[-3000:]}"
    return dict(json.loads(result.stdout))


HOST_TOKEN = "s3cret-from-the-host"


@pytest.fixture(scope="module")
def project() -> dict[str, Any]:
    return load(**{TOKEN: HOST_TOKEN})  # compose has no default token: the trainer listens on 0.0.0.0 there


def _services(project: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(project["services"])


def _one_shot(service: dict[str, Any]) -> bool:
    """A job that runs to completion (others wait for it with service_completed_successfully), not a service."""
    return str(service.get("restart", "")).startswith("on-failure") and "healthcheck" not in service


def _flag(command: list[str], name: str) -> str:
    return next(arg.split("=", 1)[1] for arg in command if arg.startswith(f"{name}="))


def test_has_the_whole_loop(project: dict[str, Any]) -> None:
    assert {"kafka", "redis", "prometheus", "alertmanager", "grafana"} | DRIFTLINE <= set(_services(project))


def test_every_service_restarts_and_is_health_checked(project: dict[str, Any]) -> None:
    for name, service in _services(project).items():
        if name == "setup":
            assert _one_shot(service), "setup is the one-shot job: restart on-failure, no healthcheck"
            continue
        assert service.get("restart") in ("unless-stopped", "always"), f"{name}: restart {service.get('restart')}"
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"


def test_every_image_is_pinned(project: dict[str, Any]) -> None:
    for name, service in _services(project).items():
        image = service.get("image", "")
        assert re.fullmatch(r"[\w./-]+:v?\d+\.\d+(\.\d+)?[\w.-]*", image), f"{name}: image {image!r} is not pinned"
    assert _services(project)["kafka"]["image"].startswith("apache/kafka:3.9.")
    assert _services(project)["redis"]["image"].startswith("redis:7")
    assert re.search(r"^FROM python:3\.11\.\d+-slim", (ROOT / "Dockerfile").read_text(), re.M), "unpinned base"


def test_dependencies_wait_for_health_or_completion(project: dict[str, Any]) -> None:
    services = _services(project)
    for name, service in services.items():
        for dependency, spec in (service.get("depends_on") or {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            expected = "service_completed_successfully" if _one_shot(services[dependency]) else "service_healthy"
            assert spec["condition"] == expected, f"{name} → {dependency}: {spec['condition']}"
    assert set(services["processor"]["depends_on"]) >= {"kafka", "redis", "trainer"}
    assert services["trainer"]["depends_on"]["setup"]["condition"] == "service_completed_successfully"


def test_kafka_has_a_listener_inside_the_network_and_one_for_the_host(project: dict[str, Any]) -> None:
    kafka = _services(project)["kafka"]
    env = kafka["environment"]
    listeners = dict(re.findall(r"(\w+)://[^:,]*:(\d+)", env["KAFKA_LISTENERS"]))
    advertised = dict(re.findall(r"(\w+)://([^,]+)", env["KAFKA_ADVERTISED_LISTENERS"]))
    internal = _services(project)["processor"]["environment"]["DRIFTLINE_KAFKA__BOOTSTRAP_SERVERS"]
    inside = next(name for name, address in advertised.items() if address == internal)
    assert internal == "kafka:9092" and env["KAFKA_INTER_BROKER_LISTENER_NAME"] == inside
    host_name, host_address = next((n, a) for n, a in advertised.items() if a.split(":")[0] in ("127.0.0.1", "::1"))
    published = [p for p in kafka["ports"] if p["target"] == int(listeners[host_name])]
    assert published, f"the host listener {host_name} (container port {listeners[host_name]}) is not published"
    assert f"{published[0].get('host_ip', 'localhost')}:{published[0]['published']}" == host_address
    # the host's commands reach it with the settings' default: the README's host-side commands need no setting
    assert host_address == KafkaSettings.model_fields["bootstrap_servers"].default
    for name in DRIFTLINE:
        assert _services(project)[name]["environment"]["DRIFTLINE_KAFKA__BOOTSTRAP_SERVERS"] == internal


def test_every_service_keeps_its_data_in_a_named_volume(project: dict[str, Any]) -> None:
    services = _services(project)
    prometheus, alertmanager = services["prometheus"]["command"], services["alertmanager"]["command"]
    redis = services["redis"]["command"]
    where = {
        "kafka": services["kafka"]["environment"]["KAFKA_LOG_DIRS"],
        "redis": redis[redis.index("--dir") + 1],
        "prometheus": _flag(prometheus, "--storage.tsdb.path"),
        "alertmanager": _flag(alertmanager, "--storage.path"),
        "grafana": "/var/lib/grafana",
        **{name: services[name]["environment"]["DRIFTLINE_REGISTRY__ROOT"] for name in DRIFTLINE - {"producer"}},
    }
    for name, path in where.items():
        volumes = [v for v in services[name].get("volumes", []) if v["target"] == path]
        assert volumes and volumes[0]["type"] == "volume", f"{name} keeps {path} in no named volume"
        assert volumes[0]["source"] in project["volumes"], f"{name}: volume {volumes[0]['source']} is not declared"
    sources = {n: next(v["source"] for v in services[n]["volumes"] if v["target"] == where[n]) for n in where}
    assert sources["trainer"] == sources["processor"] == sources["setup"], "one registry for trainer and workers"


def test_redis_appends_every_write(project: dict[str, Any]) -> None:
    command = _services(project)["redis"]["command"]
    assert command[command.index("--appendonly") + 1] == "yes"


def _token_sources(project: dict[str, Any]) -> tuple[str, str]:
    """(what the trainer expects, what Alertmanager sends): the file the mounted config's credentials_file names."""
    services = _services(project)
    alertmanager = services["alertmanager"]
    config_mount = next(v for v in alertmanager["volumes"] if v["target"] == _flag(alertmanager["command"],
                                                                                   "--config.file"))  # fmt: skip
    config = yaml.safe_load(Path(config_mount["source"]).read_text())
    trainer = next(r for r in config["receivers"] if r["name"] == "trainer")["webhook_configs"][0]
    assert trainer["url"].startswith("http://trainer:8088/")
    token_file = trainer["http_config"]["authorization"]["credentials_file"]
    mounted = next(c for c in alertmanager["configs"] if c["target"] == token_file)
    return services["trainer"]["environment"][TOKEN], project["configs"][mounted["source"]]["content"]


def test_one_webhook_token_setting(project: dict[str, Any]) -> None:
    assert _token_sources(project) == (HOST_TOKEN, HOST_TOKEN)
    names = set(re.findall(r"\w*TOKEN\w*", (ROOT / "docker-compose.yml").read_text()))
    assert names == {TOKEN}, f"the token is spelled {sorted(names)}; one name: {TOKEN}"


def test_compose_refuses_to_start_without_a_token_of_the_users_own() -> None:
    """The trainer listens on 0.0.0.0 in compose: the repository's token must never be its default there."""
    result = run_loader()
    assert result.returncode != 0 and f"set {TOKEN} to a secret of your own" in result.stderr, result.stderr[-2000:]
    assert "driftline-local-token" not in (ROOT / "docker-compose.yml").read_text()


def test_workers_run_without_tensorflow(project: dict[str, Any]) -> None:
    services = _services(project)
    for name in ("processor", "producer"):
        assert services[name]["build"]["target"] == "worker", f"{name} is not built from the worker target"
    for name in ("trainer", "setup"):
        assert services[name]["build"]["target"] == "trainer"
    stages = dict(re.findall(r"^FROM \S+ AS (\w+)\n(.*?)(?=^FROM |\Z)", (ROOT / "Dockerfile").read_text(), re.M | re.S))
    assert "requirements/worker.txt" in stages["worker"] and "requirements/trainer.txt" in stages["trainer"]
    assert "[ml" not in stages["worker"] and "--no-deps" in stages["worker"]


def test_the_processor_runs_under_its_supervisor(project: dict[str, Any]) -> None:
    """As `make demo` runs it (`process --workers N`): a crashed worker is restarted inside the container."""
    command = _services(project)["processor"]["command"]
    assert command[:2] == ["driftline", "process"] and "--workers" in command and "--index" not in command


def test_every_mounted_file_exists(project: dict[str, Any]) -> None:
    binds = [v["source"] for s in _services(project).values() for v in s.get("volumes", []) if v["type"] == "bind"]
    assert binds
    for source in binds:
        assert Path(source).exists(), f"mounted {source} does not exist"
