"""KafkaSettings in every client's spelling: one translation (driftline/kafka_clients.py) for all of them."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

from driftline.kafka_clients import client_options, faust_credentials, librdkafka_config, ssl_context
from driftline.settings import KafkaSettings

SASL = KafkaSettings(bootstrap_servers="127.0.0.1:1", security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN",
                     sasl_username="u", sasl_password="p")  # type: ignore[arg-type]  # fmt: skip


def test_plaintext_needs_only_the_servers() -> None:
    kafka = KafkaSettings(bootstrap_servers="a:9092,b:9092")
    assert librdkafka_config(kafka) == {"bootstrap.servers": "a:9092,b:9092", "security.protocol": "PLAINTEXT"}
    assert client_options(kafka) == {"bootstrap_servers": ["a:9092", "b:9092"], "security_protocol": "PLAINTEXT"}
    assert ssl_context(kafka) is None and faust_credentials(kafka) is None


def test_sasl_over_tls_passes_every_credential_and_file_to_librdkafka() -> None:
    kafka = KafkaSettings(
        bootstrap_servers="broker:9093",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="driftline",
        sasl_password="s3cret",  # type: ignore[arg-type]
        ssl_cafile=Path("/etc/kafka/ca.pem"),
        ssl_certfile=Path("/etc/kafka/client.pem"),
        ssl_keyfile=Path("/etc/kafka/client.key"),
    )
    assert librdkafka_config(kafka) == {
        "bootstrap.servers": "broker:9093",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "driftline",
        "sasl.password": "s3cret",
        "ssl.ca.location": "/etc/kafka/ca.pem",
        "ssl.certificate.location": "/etc/kafka/client.pem",
        "ssl.key.location": "/etc/kafka/client.key",
    }


def test_tls_is_one_verifying_context_for_the_python_clients() -> None:
    kafka = KafkaSettings(security_protocol="SSL")
    options = client_options(kafka)
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    assert options["ssl_context"].verify_mode == ssl.CERT_REQUIRED and options["ssl_context"].check_hostname


def test_sasl_credentials_are_the_same_for_every_client() -> None:
    options = client_options(SASL)
    assert (options["sasl_mechanism"], options["sasl_plain_username"], options["sasl_plain_password"]) == (
        "PLAIN", "u", "p")  # fmt: skip
    credentials = faust_credentials(SASL)
    assert (credentials.username, credentials.password, credentials.mechanism.value) == ("u", "p", "PLAIN")


def test_every_client_accepts_the_names() -> None:
    from aiokafka import AIOKafkaProducer
    from confluent_kafka import Producer

    Producer(librdkafka_config(SASL))  # an unknown or misspelt property raises KafkaException here

    async def construct() -> None:  # aiokafka checks its keywords when constructed, before connecting
        await AIOKafkaProducer(**client_options(SASL)).stop()

    asyncio.run(construct())
