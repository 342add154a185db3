"""docker-compose.yml: parses, pins every image, health-checks every service, mounts only files that exist."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_has_the_whole_stack(compose: dict[str, Any]) -> None:
    assert {"kafka", "redis", "prometheus", "alertmanager", "grafana", "processor", "trainer", "producer"} <= set(
        compose["services"]
    )


def test_every_image_is_pinned(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        image = service.get("image")
        assert image, f"{name} has no image"
        assert ":" in image and not image.endswith(":latest"), f"{name}: image {image!r} is not pinned"
        assert re.search(r":v?\d+\.\d+", image), f"{name}: {image!r} should pin a version"
    assert compose["services"]["kafka"]["image"].startswith("apache/kafka:3.9.")
    assert compose["services"]["redis"]["image"].startswith("redis:7")


def test_every_service_has_a_healthcheck(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        check = service.get("healthcheck", {}).get("test")
        assert check, f"{name} has no healthcheck"


def test_dependencies_wait_for_health(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for dependency, condition in (service.get("depends_on") or {}).items():
            assert dependency in compose["services"], f"{name} depends on unknown {dependency}"
            assert condition == {"condition": "service_healthy"}, f"{name} → {dependency}: {condition}"


def test_every_mounted_file_exists(compose: dict[str, Any]) -> None:
    mounts = [
        volume.split(":")[0]
        for service in compose["services"].values()
        for volume in service.get("volumes", [])
        if volume.startswith("./")
    ]
    assert mounts
    for source in mounts:
        assert (ROOT / source).exists(), f"mounted {source} does not exist"


def test_driftline_services_are_built_from_the_dockerfile(compose: dict[str, Any]) -> None:
    assert (ROOT / "Dockerfile").exists()
    built = [name for name, s in compose["services"].items() if "build" in s]
    assert built, "no service is built from the Dockerfile"
    image = compose["services"][built[0]]["image"]
    for name in ("processor", "trainer", "producer"):
        assert compose["services"][name]["image"] == image
