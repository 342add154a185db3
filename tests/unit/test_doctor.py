"""`driftline doctor`'s pure parts: the line each check prints, the fix each finding names, Java's version."""

from __future__ import annotations

import socket
import threading
import time
import zipfile
from pathlib import Path

import pytest

from driftline.registry import Registry
from driftline.settings import RegistrySettings, Settings
from driftline.topics import Topics, topic_specs
from stack.doctor import (
    Check,
    check_registry,
    format_check,
    java_major,
    port_check,
    run_with_deadline,
    service_check,
    topics_check,
)
from stack.health import Health


def test_an_ok_check_is_one_line_without_a_fix() -> None:
    line = format_check(Check("redis", True, "127.0.0.1:6379 7.0.15", fix="never shown"))
    assert line.split() == ["ok", "redis", "127.0.0.1:6379", "7.0.15"]


def test_a_problem_names_its_fix_on_the_same_line() -> None:
    line = format_check(Check("topics", False, "missing driftline.records", "driftline topics create"))
    assert "\n" not in line
    assert line.startswith("PROBLEM topics")
    assert line.endswith("fix: driftline topics create")


@pytest.mark.parametrize(
    ("output", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15\nOpenJDK Runtime Environment', 17),
        ('openjdk version "21" 2023-09-19', 21),
        ('java version "1.8.0_392"', 8),
        ("bash: java: command not found", None),
    ],
)
def test_java_major_version(output: str, major: int | None) -> None:
    assert java_major(output) == major


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_service_with_nothing_listening_is_fixed_by_starting_the_stack() -> None:
    port = _free_port()
    check = service_check("kafka", "127.0.0.1", port, Health(False, detail="refused"), "DRIFTLINE_X")
    assert not check.ok and check.fix == "driftline stack up"
    assert f"127.0.0.1:{port}" in check.detail


def test_a_service_port_taken_by_something_else_names_the_port_setting() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        check = service_check("prometheus", "127.0.0.1", port, Health(False, detail="not HTTP"), "DRIFTLINE_P")
    assert not check.ok
    assert "not a healthy prometheus" in check.detail
    assert check.fix == f"stop what listens on 127.0.0.1:{port}, or choose another port (DRIFTLINE_P)"


def test_ports_free_ours_or_taken() -> None:
    assert port_check("trainer port", 8088, "S", "the trainer", None).ok
    assert port_check("trainer port", 8088, "S", "the trainer", True).detail == "8088 in use by the trainer"
    taken = port_check("trainer port", 8088, "DRIFTLINE_TRAINER__PORT", "the trainer", False)
    assert not taken.ok and "DRIFTLINE_TRAINER__PORT" in taken.fix


def test_topics_missing_or_with_other_partition_counts() -> None:
    specs = topic_specs(Topics("t."), records=6, labels=6, predictions=6, dead_letter=3)
    counts = {spec.name: spec.partitions for spec in specs}
    assert topics_check(specs, counts).ok
    missing = topics_check(specs, {k: v for k, v in counts.items() if k != "t.labels"})
    assert not missing.ok and missing.detail == "missing t.labels" and missing.fix == "driftline topics create"
    wrong = topics_check(specs, {**counts, "t.records": 2})
    assert not wrong.ok and "t.records has 2 partitions, the settings say 6" in wrong.detail
    assert "DRIFTLINE_KAFKA__*_PARTITIONS" in wrong.fix


def _settings(root: Path) -> Settings:
    return Settings(registry=RegistrySettings(root=root))


def test_registry_empty_missing_production_and_altered(tmp_path: Path) -> None:
    assert check_registry(_settings(tmp_path)).fix == "driftline train"
    registry = Registry(tmp_path, "driftline")
    keras = tmp_path / "model.keras"
    with zipfile.ZipFile(keras, "w") as archive:
        archive.writestr("config.json", '{"class_name": "Sequential", "config": {"layers": []}}')
    version = registry.register({"model.keras": keras, "metrics.json": b"{}"})
    no_alias = check_registry(_settings(tmp_path))
    assert not no_alias.ok and no_alias.fix == f"driftline models promote {version}"
    registry.set_alias("production", version)
    assert check_registry(_settings(tmp_path)).ok
    (registry.path(version) / "metrics.json").write_bytes(b'{"accuracy": 1.0}')
    altered = check_registry(_settings(tmp_path))
    assert not altered.ok and "does not verify" in altered.detail
    assert altered.fix == "driftline models rollback, or driftline train"


def test_a_check_that_hangs_is_a_problem_at_its_deadline() -> None:
    never = threading.Event()
    started = time.monotonic()
    wait = run_with_deadline("kafka", lambda: Check("kafka", never.wait(30), ""), 0.3)
    (check,) = wait()
    never.set()
    assert time.monotonic() - started < 5
    assert not check.ok and check.detail == "no answer within 0.3s"


def test_a_check_that_raises_is_reported_not_raised() -> None:
    (check,) = run_with_deadline("java", lambda: 1 / 0, 5)()  # type: ignore[arg-type,return-value]
    assert not check.ok and "ZeroDivisionError" in check.detail
