"""KafkaSettings in librdkafka's spelling: the records producer connects as the other clients do."""

from __future__ import annotations

from pathlib import Path

from driftline.settings import KafkaSettings


def test_plaintext_needs_only_the_servers() -> None:
    config = KafkaSettings(bootstrap_servers="a:9092,b:9092").librdkafka_config()
    assert config == {"bootstrap.servers": "a:9092,b:9092", "security.protocol": "PLAINTEXT"}


def test_sasl_over_tls_passes_every_credential_and_file() -> None:
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
    assert kafka.librdkafka_config() == {
        "bootstrap.servers": "broker:9093",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "driftline",
        "sasl.password": "s3cret",
        "ssl.ca.location": "/etc/kafka/ca.pem",
        "ssl.certificate.location": "/etc/kafka/client.pem",
        "ssl.key.location": "/etc/kafka/client.key",
    }


def test_librdkafka_accepts_the_names() -> None:
    from confluent_kafka import Producer

    kafka = KafkaSettings(bootstrap_servers="127.0.0.1:1", security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN",
                          sasl_username="u", sasl_password="p")  # type: ignore[arg-type]  # fmt: skip
    Producer(kafka.librdkafka_config())  # an unknown or misspelt property raises KafkaException here
