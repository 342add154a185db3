"""The one translation of ``KafkaSettings`` (servers, security protocol, SASL, TLS) into each client's spelling.

kafka-python and aiokafka take the same keyword names (TLS as an ``ssl.SSLContext``), librdkafka takes Kafka's
dotted property names, faust takes a credentials object. All three come from the same fields here, so a setting
means the same thing to every client of the project.
"""

from __future__ import annotations

import ssl
from typing import Any

from driftline.settings import KafkaSettings


def ssl_context(kafka: KafkaSettings) -> ssl.SSLContext | None:
    """The TLS context for SSL and SASL_SSL (None otherwise): the configured CA, and a client certificate if set."""
    if kafka.security_protocol not in ("SSL", "SASL_SSL"):
        return None
    context = ssl.create_default_context(cafile=str(kafka.ssl_cafile) if kafka.ssl_cafile else None)
    if kafka.ssl_certfile is not None:
        context.load_cert_chain(str(kafka.ssl_certfile), str(kafka.ssl_keyfile) if kafka.ssl_keyfile else None)
    return context


def _password(kafka: KafkaSettings) -> str | None:
    return kafka.sasl_password.get_secret_value() if kafka.sasl_password is not None else None


def client_options(kafka: KafkaSettings) -> dict[str, Any]:
    """Connection keywords for kafka-python's and aiokafka's clients (both spell them alike)."""
    options: dict[str, Any] = {
        "bootstrap_servers": kafka.bootstrap_servers.split(","),
        "security_protocol": kafka.security_protocol,
    }
    if kafka.sasl_mechanism is not None:
        options.update(sasl_mechanism=kafka.sasl_mechanism, sasl_plain_username=kafka.sasl_username,
                       sasl_plain_password=_password(kafka))  # fmt: skip
    context = ssl_context(kafka)
    if context is not None:
        options["ssl_context"] = context
    return options


def librdkafka_config(kafka: KafkaSettings) -> dict[str, str]:
    """The same connection in librdkafka's property names (confluent-kafka)."""
    config = {"bootstrap.servers": kafka.bootstrap_servers, "security.protocol": kafka.security_protocol}
    if kafka.sasl_mechanism is not None:
        config["sasl.mechanism"] = kafka.sasl_mechanism
    if kafka.sasl_username is not None:
        config["sasl.username"] = kafka.sasl_username
    password = _password(kafka)
    if password is not None:
        config["sasl.password"] = password
    for key, path in (("ssl.ca.location", kafka.ssl_cafile), ("ssl.certificate.location", kafka.ssl_certfile),
                      ("ssl.key.location", kafka.ssl_keyfile)):  # fmt: skip
        if path is not None:
            config[key] = str(path)
    return config


def faust_credentials(kafka: KafkaSettings) -> Any:
    """faust's broker credentials for the same connection (None on PLAINTEXT)."""
    import faust

    context = ssl_context(kafka)
    if kafka.security_protocol.startswith("SASL_"):
        return faust.SASLCredentials(username=kafka.sasl_username, password=_password(kafka),
                                     mechanism=kafka.sasl_mechanism, ssl_context=context)  # fmt: skip
    if context is not None:
        return faust.SSLCredentials(context)
    return None
