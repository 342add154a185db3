"""The cached Kafka jars: fetched once per kafka-pom.xml (the marker keeps its sha256), again when the pom changes."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import Any

import pytest

from driftline.errors import StackError
from driftline.settings import Settings, StackSettings
from stack import kafka
from stack.kafka import KafkaService

pytestmark = pytest.mark.unit

POM_SHA256 = hashlib.sha256((Path(kafka.__file__).parent / "kafka-pom.xml").read_bytes()).hexdigest()


def service(tmp_path: Path) -> KafkaService:
    base = Settings()
    stack = StackSettings(**{**base.stack.model_dump(), "data_dir": tmp_path / "data", "cache_dir": tmp_path})
    return KafkaService(base.model_copy(update={"stack": stack}))


class FakeMaven:
    """Stands in for ``mvn dependency:copy-dependencies``: writes the jars it is told to into -DoutputDirectory."""

    def __init__(self, jars: list[str]) -> None:
        self.jars = jars
        self.calls = 0

    def __call__(self, command: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        self.calls += 1
        out = Path(next(arg for arg in command if arg.startswith("-DoutputDirectory=")).split("=", 1)[1])
        out.mkdir(parents=True)
        for jar in self.jars:
            (out / jar).write_text(f"fetch {self.calls}")
        return subprocess.CompletedProcess(command, 0, "", "")


def test_jars_are_fetched_once_per_pom(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    node = service(tmp_path)
    maven = FakeMaven([f"kafka_2.13-{node.version}.jar", f"kafka-tools-{node.version}.jar"])
    monkeypatch.setattr(kafka.subprocess, "run", maven)
    node._fetch_jars()
    node._fetch_jars()
    assert maven.calls == 1
    assert (node.libs / ".complete").read_text().strip() == POM_SHA256
    command = node.tool_command("org.apache.kafka.tools.ConsumerPerformance", "--help")
    assert command == ["java", "-cp", f"{node.libs}/*", "org.apache.kafka.tools.ConsumerPerformance", "--help"]
    assert maven.calls == 1


@pytest.mark.parametrize("marker", ["", "0" * 64])  # an older cache's empty marker, or another pom's
def test_a_cache_of_another_pom_is_fetched_again_and_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               marker: str) -> None:  # fmt: skip
    node = service(tmp_path)
    node.libs.mkdir(parents=True)
    (node.libs / "stale.jar").write_text("old")
    (node.libs / ".complete").write_text(marker)
    maven = FakeMaven([f"kafka_2.13-{node.version}.jar", f"kafka-tools-{node.version}.jar"])
    monkeypatch.setattr(kafka.subprocess, "run", maven)
    node._fetch_jars()
    assert maven.calls == 1
    assert not (node.libs / "stale.jar").exists() and (node.libs / f"kafka-tools-{node.version}.jar").exists()
    assert (node.libs / ".complete").read_text().strip() == POM_SHA256
    assert sorted(p.name for p in node.libs.parent.iterdir()) == ["libs"]  # no .partial or .old left behind


def test_a_fetch_without_the_tools_jar_fails_and_keeps_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = service(tmp_path)
    node.libs.mkdir(parents=True)
    (node.libs / ".complete").write_text("")
    monkeypatch.setattr(kafka.subprocess, "run", FakeMaven([f"kafka_2.13-{node.version}.jar"]))
    with pytest.raises(StackError, match=f"kafka-tools-{node.version}.jar"):
        node._fetch_jars()
    assert (node.libs / ".complete").read_text() == ""
