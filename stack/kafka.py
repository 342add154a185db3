"""Apache Kafka in KRaft combined mode, from Maven Central's jars (fetched once, then cached)."""

from __future__ import annotations

import base64
import hashlib
import logging
import shutil
import subprocess
import uuid
from pathlib import Path

from pydantic import SecretStr

from driftline.errors import StackError
from driftline.settings import KafkaSettings, Settings
from stack.health import Health, kafka_health
from stack.services import Service
from stack.tls import password, pkcs12_keystore, stack_ca, tls_dir

logger = logging.getLogger(__name__)

_STACK_FILES = Path(__file__).parent


def _kafka_uuid() -> str:
    """A cluster id in Kafka's own format (base64url of 16 random bytes, unpadded). Like Kafka's ``Uuid.randomUuid``,
    never one that starts with '-': the storage tool's argument parser would read it as an option (1 id in 64)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


PORT_STEP = 10  # node i of a cluster listens on the first node's ports + PORT_STEP * i
SCRAM = "SCRAM-SHA-512"
CLIENT_USER = "driftline"  # every Driftline process's SASL user on the secured stack
BROKER_USER = "broker"  # the brokers' own, between themselves


class KafkaService(Service):
    """One Kafka node in KRaft combined mode (broker and controller). Alone it is ``kafka``; in a cluster of N the
    nodes are ``kafka-1`` .. ``kafka-N``, with data of their own (a single node's data is never reused by a cluster),
    one cluster id, every node a voter, and replication 3 (min.insync.replicas 2) for Kafka's own topics."""

    programs = ["java", "mvn"]

    def __init__(self, settings: Settings, node: int = 0, nodes: int = 1) -> None:
        if not 0 <= node < nodes:
            raise ValueError(f"node must be in 0..{nodes - 1}, found {node}")
        self.node, self.nodes = node, nodes
        self.name = self.node_name(node, nodes)
        super().__init__(settings)

    @staticmethod
    def node_name(node: int, nodes: int) -> str:
        return "kafka" if nodes == 1 else f"kafka-{node + 1}"

    def _port(self, first: int, node: int | None = None) -> int:
        return first + PORT_STEP * (self.node if node is None else node)

    @property
    def port(self) -> int:
        return self._port(self.settings.stack.kafka_port)

    @property
    def extra_ports(self) -> list[int]:
        return [self._port(self.settings.stack.kafka_controller_port)]

    @property
    def bootstrap_servers(self) -> str:
        """Every node's client address, as clients are given them."""
        return ",".join(f"127.0.0.1:{self._port(self.settings.stack.kafka_port, n)}" for n in range(self.nodes))

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
        """The node's data; a secured node's is its own (its SCRAM users are written when it is formatted)."""
        return self.dir / ("data-secure" if self.secure else "data")

    @property
    def secure(self) -> bool:
        return self.settings.stack.secure

    @property
    def _tls(self) -> Path:
        return tls_dir(self.settings.stack.data_dir)

    def _password(self, user: str) -> str:
        return password(self._tls / f"kafka-{user}.password")

    def client_settings(self) -> KafkaSettings:
        """How a client reaches this stack's Kafka: every node, and on a secured stack SASL_SSL as ``driftline``
        trusting the stack's CA."""
        kafka = KafkaSettings(bootstrap_servers=self.bootstrap_servers)
        if not self.secure:
            return kafka
        return kafka.model_copy(update={"security_protocol": "SASL_SSL", "sasl_mechanism": SCRAM,
                                        "sasl_username": CLIENT_USER, "sasl_password": SecretStr(
                                            self._password(CLIENT_USER)),
                                        "ssl_cafile": self._tls / "ca.pem"})  # fmt: skip

    def client_env(self) -> dict[str, str]:
        kafka = self.client_settings()
        env = {"DRIFTLINE_KAFKA__BOOTSTRAP_SERVERS": kafka.bootstrap_servers}
        if self.secure:
            env.update({
                "DRIFTLINE_KAFKA__SECURITY_PROTOCOL": kafka.security_protocol,
                "DRIFTLINE_KAFKA__SASL_MECHANISM": SCRAM,
                "DRIFTLINE_KAFKA__SASL_USERNAME": CLIENT_USER,
                "DRIFTLINE_KAFKA__SASL_PASSWORD": self._password(CLIENT_USER),
                "DRIFTLINE_KAFKA__SSL_CAFILE": str(kafka.ssl_cafile),
            })  # fmt: skip
        return env

    def version_hint(self) -> str:
        return self.version

    def prepare(self) -> None:
        super().prepare()
        self._fetch_jars()
        if self.secure:
            self._make_keystore()
        self._write_config()
        self._format_storage()

    def _make_keystore(self) -> Path:
        """The broker's certificate (127.0.0.1 and localhost, from the stack's CA) as a PKCS#12 keystore."""
        issued = stack_ca(self.settings.stack.data_dir).issue(self._tls, "kafka")
        self._password("keystore")
        return pkcs12_keystore(issued, self._tls / "kafka.p12", self._tls / "kafka-keystore.password")

    def _pom_digest(self) -> str:
        return hashlib.sha256((_STACK_FILES / "kafka-pom.xml").read_bytes()).hexdigest()

    def jars_cached(self) -> bool:
        """The cache holds the jars of the current ``kafka-pom.xml`` (its marker keeps the pom's sha256)."""
        marker = self.libs / ".complete"
        return marker.exists() and marker.read_text().strip() == self._pom_digest()

    def _fetch_jars(self) -> None:
        """The jars of ``kafka-pom.xml`` in ``libs``, fetched once per pom: the marker keeps the pom's sha256, so a
        changed pom (a dependency added) fetches them again. The new folder replaces the old by two renames; a broker
        running from it keeps the jars it has open."""
        if self.jars_cached():
            return
        pom = _STACK_FILES / "kafka-pom.xml"
        wanted = self._pom_digest()
        self.libs.parent.mkdir(parents=True, exist_ok=True)
        if not self.version.startswith("3."):
            raise StackError(f"Driftline runs Kafka 3.x in KRaft mode; kafka_version={self.version!r}")
        tmp = self.libs.with_name(self.libs.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        command = [
            "mvn", "-q", "-B",
            "-f", str(pom),
            f"-Dkafka.version={self.version}",
            f"-DoutputDirectory={tmp}",
            "dependency:copy-dependencies",
        ]  # fmt: skip
        logger.info("fetching Kafka %s jars from Maven Central (once per kafka-pom.xml)", self.version)
        result = subprocess.run(command, capture_output=True, text=True)
        missing = [jar for jar in (f"kafka_2.13-{self.version}.jar", f"kafka-tools-{self.version}.jar")
                   if not (tmp / jar).is_file()]  # fmt: skip
        if result.returncode != 0 or missing:
            raise StackError(
                f"could not download Kafka {self.version} from Maven Central (mvn exit {result.returncode}, "
                f"missing {missing}):\n{(result.stdout + result.stderr)[-2000:]}"
            )
        (tmp / ".complete").write_text(wanted + "\n")
        old = self.libs.with_name(self.libs.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if self.libs.exists():
            self.libs.rename(old)
        tmp.rename(self.libs)
        shutil.rmtree(old, ignore_errors=True)

    def _write_config(self) -> None:
        s = self.settings.stack
        controller = self.extra_ports[0]
        voters = ",".join(f"{n + 1}@127.0.0.1:{self._port(s.kafka_controller_port, n)}" for n in range(self.nodes))
        replicas = min(3, self.nodes)
        in_sync = 2 if self.nodes >= 3 else 1  # a cluster of 3 survives one node lost without losing a write
        lines = {
            "process.roles": "broker,controller",
            "node.id": str(self.node + 1),
            "controller.quorum.voters": voters,
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{controller}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.log_dir),
            "num.partitions": "6",
            "default.replication.factor": str(replicas),
            "min.insync.replicas": str(in_sync),
            "offsets.topic.replication.factor": str(replicas),
            "offsets.topic.num.partitions": "12",
            "transaction.state.log.replication.factor": str(replicas),
            "transaction.state.log.min.isr": str(in_sync),
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "true",
            "log.retention.hours": "48",
            "log.segment.bytes": str(256 * 1024 * 1024),
        }
        if self.secure:
            lines.update(self._secure_lines())
        self.properties.write_text("".join(f"{k}={v}\n" for k, v in lines.items()))
        self.properties.chmod(0o600)  # a secured node's holds passwords

    def _secure_lines(self) -> dict[str, str]:
        """Clients and brokers on SASL_SSL with SCRAM-SHA-512; the controllers on TLS with a client certificate
        (SCRAM users live in the metadata the controllers serve, so they cannot authenticate the controllers)."""
        tls = self._tls
        controller = self.extra_ports[0]
        jaas = (f'org.apache.kafka.common.security.scram.ScramLoginModule required username="{BROKER_USER}" '
                f'password="{self._password(BROKER_USER)}";')  # fmt: skip
        return {
            "listeners": f"SASL_SSL://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{controller}",
            "advertised.listeners": f"SASL_SSL://127.0.0.1:{self.port}",
            "inter.broker.listener.name": "SASL_SSL",
            "listener.security.protocol.map": "SASL_SSL:SASL_SSL,CONTROLLER:SSL",
            "sasl.enabled.mechanisms": SCRAM,
            "sasl.mechanism.inter.broker.protocol": SCRAM,
            f"listener.name.sasl_ssl.{SCRAM.lower()}.sasl.jaas.config": jaas,
            "listener.name.controller.ssl.client.auth": "required",
            "ssl.keystore.type": "PKCS12",
            "ssl.keystore.location": str(tls / "kafka.p12"),
            "ssl.keystore.password": self._password("keystore"),
            "ssl.key.password": self._password("keystore"),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(tls / "ca.pem"),
            "ssl.endpoint.identification.algorithm": "https",
        }

    def _java(self, main: str, *args: str) -> list[str]:
        return ["java", "-cp", f"{self.libs}/*", main, *args]

    def tool_command(self, main: str, *args: str) -> list[str]:
        """The command line that runs one of Kafka's own tools (e.g. ``org.apache.kafka.tools.ConsumerPerformance``)
        with the broker's java and jars, fetching the jars first if the cache is missing or stale."""
        self._fetch_jars()
        return self._java(main, *args)

    def _format_storage(self) -> None:
        if (self.log_dir / "meta.properties").exists():
            return
        # one id for every node of a cluster: the first node's
        first = self.settings.stack.data_dir.resolve() / self.node_name(0, self.nodes)
        first.mkdir(parents=True, exist_ok=True)
        id_file = first / "cluster-id"
        if not id_file.exists():
            id_file.write_text(_kafka_uuid())
        command = self._java(
            "kafka.tools.StorageTool", "format", "-t", id_file.read_text().strip(), "-c", str(self.properties)
        )
        if self.secure:  # the SCRAM users, in the cluster's first metadata
            for user in (BROKER_USER, CLIENT_USER):
                command += ["--add-scram", f"{SCRAM}=[name={user},password={self._password(user)}]"]
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
        # the stack's own probe logs in as the brokers do: rotating the clients' password does not make it unhealthy
        probe = self.client_settings()
        if self.secure:
            probe = probe.model_copy(update={"sasl_username": BROKER_USER,
                                             "sasl_password": SecretStr(self._password(BROKER_USER))})  # fmt: skip
        health = kafka_health(self.port, brokers_expected=self.nodes, kafka=probe)
        if health.healthy and not health.version:
            return Health(True, version=self.version if self.libs.exists() else "", detail=health.detail)
        return health
