"""The one translation of ``KafkaSettings`` (servers, security protocol, SASL, TLS) into each client's spelling.

kafka-python and aiokafka take the same keyword names (TLS as an ``ssl.SSLContext``), librdkafka takes Kafka's
dotted property names, faust takes a credentials object. All three come from the same fields here, so a setting
means the same thing to every client of the project.
"""

from __future__ import annotations

import socket
import ssl
import time
from typing import Any

from driftline.errors import ConfigError
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


def _address(server: str) -> tuple[str, int]:
    host, _, port = server.strip().rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port or 9092)


def _tls_refusal(kafka: KafkaSettings, server: str, raw: socket.socket) -> ConfigError | None:
    """The handshake every client will make: a one-line error if the broker's certificate is not trusted."""
    context = ssl_context(kafka)
    assert context is not None
    host, _ = _address(server)
    try:
        context.wrap_socket(raw, server_hostname=host).close()
    except ssl.SSLCertVerificationError as exc:
        trusted = f"the CA in {kafka.ssl_cafile}" if kafka.ssl_cafile else "the system's CAs"
        return ConfigError(f"Kafka at {server}: its TLS certificate is not trusted by {trusted} "
                           f"({exc.verify_message}); DRIFTLINE_KAFKA__SSL_CAFILE must name the CA that signed it")
    except (ssl.SSLError, OSError) as exc:
        return ConfigError(f"Kafka at {server} did not complete a TLS handshake ({exc.__class__.__name__}: {exc}); "
                           f"is DRIFTLINE_KAFKA__SECURITY_PROTOCOL={kafka.security_protocol} its listener's?")
    return None


def _login_refused(kafka: KafkaSettings, detail: str) -> ConfigError:
    return ConfigError(f"Kafka at {kafka.bootstrap_servers} refused the login of user {kafka.sasl_username!r} "
                       f"({kafka.sasl_mechanism}: {detail.rstrip('.')}); check DRIFTLINE_KAFKA__SASL_USERNAME and "
                       "DRIFTLINE_KAFKA__SASL_PASSWORD")  # fmt: skip


def check_tls(kafka: KafkaSettings, timeout: float = 10.0) -> bool:
    """On SSL and SASL_SSL, the TLS handshake every client will make, with the first broker that listens: True if
    one accepted it (or there is no TLS to check), False if none listens; ``ConfigError`` (one line) if the broker's
    certificate is not trusted. Kafka's clients themselves only retry such a broker until their timeouts."""
    if kafka.security_protocol not in ("SSL", "SASL_SSL"):
        return True
    deadline = time.monotonic() + timeout
    for server in kafka.bootstrap_servers.split(","):
        try:
            raw = socket.create_connection(_address(server), timeout=max(0.1, deadline - time.monotonic()))
        except OSError:
            continue
        with raw:
            refused = _tls_refusal(kafka, server, raw)
        if refused is not None:
            raise refused
        return True
    return False


def check_kafka(kafka: KafkaSettings, timeout: float = 15.0) -> bool:
    """Connect once as every client of the project will (TLS, then the SASL login), so that wrong settings fail at
    start in one line instead of in endless retries. True once a broker accepted the connection; False if none
    answers (yet); ``ConfigError`` if a broker refuses the certificate trust or the login."""
    deadline = time.monotonic() + timeout
    if not any(_listening(server, timeout) for server in kafka.bootstrap_servers.split(",")):
        return False  # down or starting: callers wait for it as their clients would
    if kafka.security_protocol == "PLAINTEXT":
        return True  # nothing to refuse
    if kafka.security_protocol in ("SSL", "SASL_SSL") and not check_tls(kafka, timeout):
        return False
    return _login(kafka, deadline)


def _listening(server: str, timeout: float) -> bool:
    try:
        socket.create_connection(_address(server), timeout=min(timeout, 2.0)).close()
    except OSError:
        return False
    return True


def _login(kafka: KafkaSettings, deadline: float) -> bool:
    """A metadata request as librdkafka makes it, whose client reports a refused SASL login as such (kafka-python's
    and aiokafka's only time out); its log is silenced, the refusal raised as one line."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient

    refused: list[str] = []

    def on_error(error: KafkaError) -> None:
        if error.code() == KafkaError._AUTHENTICATION:
            refused.append(error.str())

    config: dict[str, Any] = {**librdkafka_config(kafka), "client.id": "driftline-check", "error_cb": on_error,
                              "log_level": 0}  # fmt: skip
    admin = AdminClient(config)
    while True:
        left = deadline - time.monotonic()
        try:
            admin.list_topics(timeout=max(0.1, min(1.0, left)))
        except KafkaException:
            admin.poll(0.1)  # serves error_cb
            if refused:
                raise _login_refused(kafka, refused[0]) from None
            if left <= 0:
                return False
        else:
            return True
