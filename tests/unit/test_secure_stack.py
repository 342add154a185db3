"""`driftline stack up --secure`, the Kafka half without starting anything: the broker's SASL_SSL configuration, the
client settings it hands out, and secure mode recorded in the data directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from driftline.errors import StackError
from driftline.kafka_clients import client_options
from driftline.settings import KafkaSettings, Settings, StackSettings
from stack import Stack
from stack.cli import build_parser
from stack.kafka import KafkaService
from stack.process import PidFile


def settings(tmp_path: Path, *, secure: bool) -> Settings:
    base = Settings()
    stack = StackSettings(**{**base.stack.model_dump(), "data_dir": tmp_path, "secure": secure})
    return base.model_copy(update={"stack": stack})


def configured(node: KafkaService) -> dict[str, str]:
    node.dir.mkdir(parents=True, exist_ok=True)
    if node.secure:
        node._make_keystore()
    node._write_config()
    return dict(line.split("=", 1) for line in node.properties.read_text().splitlines())


def test_a_secured_node_listens_on_sasl_ssl_only_and_its_controllers_demand_a_certificate(tmp_path: Path) -> None:
    (node,) = Stack(settings(tmp_path, secure=True)).kafka_nodes
    config = configured(node)
    assert config["listeners"] == "SASL_SSL://127.0.0.1:9092,CONTROLLER://127.0.0.1:9094"
    assert config["advertised.listeners"] == "SASL_SSL://127.0.0.1:9092"
    assert config["listener.security.protocol.map"] == "SASL_SSL:SASL_SSL,CONTROLLER:SSL"
    assert "PLAINTEXT" not in config["listeners"] and config["inter.broker.listener.name"] == "SASL_SSL"
    assert config["sasl.enabled.mechanisms"] == config["sasl.mechanism.inter.broker.protocol"] == "SCRAM-SHA-512"
    assert config["listener.name.controller.ssl.client.auth"] == "required"
    assert Path(config["ssl.keystore.location"]).is_file() and Path(config["ssl.truststore.location"]).is_file()
    assert oct(node.properties.stat().st_mode & 0o777) == "0o600"  # it holds the keystore's and broker's passwords
    assert node.log_dir.name == "data-secure"  # a plain node's data (no SCRAM users) is never reused


def test_a_plain_node_is_unchanged(tmp_path: Path) -> None:
    (node,) = Stack(settings(tmp_path, secure=False)).kafka_nodes
    config = configured(node)
    assert config["listeners"] == "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9094"
    assert not any(key.startswith(("ssl.", "sasl.")) for key in config) and node.log_dir.name == "data"
    assert node.client_env() == {"DRIFTLINE_KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:9092"}


def test_the_client_env_is_valid_settings_that_trust_the_stacks_ca(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                                   ) -> None:  # fmt: skip
    (node,) = Stack(settings(tmp_path, secure=True)).kafka_nodes
    configured(node)
    env = node.client_env()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    kafka = Settings().kafka  # the settings alone, as every Driftline process builds them
    assert kafka.security_protocol == "SASL_SSL" and kafka.sasl_mechanism == "SCRAM-SHA-512"
    assert kafka.sasl_username == "driftline"
    assert kafka.sasl_password is not None and len(kafka.sasl_password.get_secret_value()) == 32
    assert kafka.ssl_cafile == tmp_path.resolve() / "tls" / "ca.pem"
    assert client_options(kafka)["ssl_context"].cert_store_stats()["x509_ca"] == 1  # the stack's CA, only it
    assert node.client_settings() == kafka.model_copy(update={"topic_prefix": KafkaSettings().topic_prefix})


def test_the_broker_and_client_users_have_different_passwords(tmp_path: Path) -> None:
    (node,) = Stack(settings(tmp_path, secure=True)).kafka_nodes
    config = configured(node)
    client = node.client_env()["DRIFTLINE_KAFKA__SASL_PASSWORD"]
    jaas = config["listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config"]
    assert 'username="broker"' in jaas and client not in jaas
    assert client not in config["ssl.keystore.password"]


def test_status_and_down_see_a_running_stack_as_it_was_started(tmp_path: Path) -> None:
    (tmp_path / "secure").write_text("")  # recorded by an `up --secure`
    assert not Stack(settings(tmp_path, secure=False)).secure  # nothing runs: the settings decide
    (tmp_path / "kafka").mkdir()
    PidFile(tmp_path / "kafka" / "kafka.pid").write(os.getpid(), os.getcwd())  # something of it still runs
    stack = Stack(settings(tmp_path, secure=False))
    assert stack.secure and stack.kafka_nodes[0].secure
    with pytest.raises(StackError, match="runs secured, not plain; `driftline stack down` first"):
        stack.up()


def test_the_flag_reaches_the_stack() -> None:
    args = build_parser().parse_args(["up", "--secure", "-q"])
    assert args.secure and not build_parser().parse_args(["up"]).secure
