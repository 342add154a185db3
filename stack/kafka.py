"""Apache Kafka in KRaft combined mode, from Maven Central's jars (fetched once, then cached)."""

from __future__ import annotations

import base64
import logging
import shutil
import subprocess
import uuid
from pathlib import Path

from driftline.errors import StackError
from stack.health import Health, kafka_health
from stack.services import Service

logger = logging.getLogger(__name__)

_STACK_FILES = Path(__file__).parent


def _kafka_uuid() -> str:
    """A cluster id in Kafka's own format (base64url of 16 random bytes, unpadded)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


class KafkaService(Service):
    name = "kafka"
    programs = ["java", "mvn"]

    @property
    def port(self) -> int:
        return self.settings.stack.kafka_port

    @property
    def extra_ports(self) -> list[int]:
        return [self.settings.stack.kafka_controller_port]

    @property
    def version(self) -> str:
        return self.settings.stack.kafka_version

    @property
    def libs(self) -> Path:
        return self.settings.stack.cache_dir.expanduser().resolve() / "kafka" / self.version / "libs"

    @property
    def properties(self) -> Path:
        return self.dir / "server.properties"

    @property
    def log_dir(self) -> Path:
        return self.dir / "data"

    def version_hint(self) -> str:
        return self.version

    def prepare(self) -> None:
        super().prepare()
        self._fetch_jars()
        self._write_config()
        self._format_storage()

    def _fetch_jars(self) -> None:
        marker = self.libs / ".complete"
        if marker.exists():
            return
        self.libs.parent.mkdir(parents=True, exist_ok=True)
        if not self.version.startswith("3."):
            raise StackError(f"Driftline runs Kafka 3.x in KRaft mode; kafka_version={self.version!r}")
        tmp = self.libs.with_name(self.libs.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        command = [
            "mvn", "-q", "-B",
            "-f", str(_STACK_FILES / "kafka-pom.xml"),
            f"-Dkafka.version={self.version}",
            f"-DoutputDirectory={tmp}",
            "dependency:copy-dependencies",
        ]  # fmt: skip
        logger.info("fetching Kafka %s jars from Maven Central (first time only)", self.version)
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0 or not any(tmp.glob(f"kafka_2.13-{self.version}.jar")):
            raise StackError(
                f"could not download Kafka {self.version} from Maven Central (mvn exit {result.returncode}):\n"
                f"{(result.stdout + result.stderr)[-2000:]}"
            )
        shutil.rmtree(self.libs, ignore_errors=True)
        tmp.rename(self.libs)
        marker.touch()

    def _write_config(self) -> None:
        s = self.settings.stack
        lines = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{s.kafka_controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{s.kafka_port},CONTROLLER://127.0.0.1:{s.kafka_controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{s.kafka_port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.log_dir),
            "num.partitions": "6",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "12",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "true",
            "log.retention.hours": "48",
            "log.segment.bytes": str(256 * 1024 * 1024),
        }
        self.properties.write_text("".join(f"{k}={v}\n" for k, v in lines.items()))

    def _java(self, main: str, *args: str) -> list[str]:
        return ["java", "-cp", f"{self.libs}/*", main, *args]

    def _format_storage(self) -> None:
        if (self.log_dir / "meta.properties").exists():
            return
        id_file = self.dir / "cluster-id"
        if not id_file.exists():
            id_file.write_text(_kafka_uuid())
        command = self._java(
            "kafka.tools.StorageTool", "format", "-t", id_file.read_text().strip(), "-c", str(self.properties)
        )
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise StackError(f"kafka storage format failed (exit {result.returncode}):\n{result.stderr[-2000:]}")

    def command(self) -> list[str]:
        return [
            "java",
            f"-Xmx{self.settings.stack.kafka_heap}",
            f"-Xms{self.settings.stack.kafka_heap}",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j.configuration=file:{_STACK_FILES / 'kafka-log4j.properties'}",
            f"-Dkafka.logs.dir={self.dir}",
            "-cp",
            f"{self.libs}/*",
            "kafka.Kafka",
            str(self.properties),
        ]

    def health(self) -> Health:
        health = kafka_health(self.port)
        if health.healthy and not health.version:
            return Health(True, version=self.version if self.libs.exists() else "", detail=health.detail)
        return health
