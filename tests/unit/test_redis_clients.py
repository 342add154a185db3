"""RedisSettings in redis-py's spelling (driftline/redis_clients.py), the same for every client, and a refusal by
Redis (login, permission, TLS) said in one line that names the setting to fix."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import redis
from pydantic import ValidationError

from driftline.redis_clients import cli_args, connection_options, display_url, refusal
from driftline.settings import RedisSettings, Settings

SECURE = RedisSettings(url="rediss://redis.internal:6380/0", username="driftline", password="s3cret",  # type: ignore[arg-type]
                       ssl_ca_certs=Path("/etc/redis/ca.pem"))  # fmt: skip


def test_plain_redis_needs_no_options() -> None:
    assert connection_options(RedisSettings()) == {}
    assert not RedisSettings().tls


def test_acl_user_password_and_tls_files_reach_the_client_and_the_certificate_is_verified() -> None:
    assert SECURE.tls
    assert connection_options(SECURE) == {
        "username": "driftline", "password": "s3cret", "ssl_ca_certs": "/etc/redis/ca.pem",
        "ssl_cert_reqs": "required", "ssl_check_hostname": True,
    }  # fmt: skip
    with_client_cert = SECURE.model_copy(update={"ssl_certfile": Path("c.pem"), "ssl_keyfile": Path("c.key")})
    assert connection_options(with_client_cert)["ssl_certfile"] == "c.pem"
    assert connection_options(with_client_cert)["ssl_keyfile"] == "c.key"


def test_every_kind_of_client_accepts_the_options() -> None:
    """The keywords are redis-py's own for a sync and an asyncio client alike (no connection is made here)."""
    import redis.asyncio

    options = connection_options(SECURE)
    for client in (redis.Redis.from_url(SECURE.url, **options), redis.asyncio.Redis.from_url(SECURE.url, **options)):
        kwargs = client.connection_pool.connection_kwargs
        assert kwargs["username"] == "driftline" and kwargs["ssl_ca_certs"] == "/etc/redis/ca.pem"
        assert client.connection_pool.connection_class.__name__ == "SSLConnection"


def test_the_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"URL": "rediss://127.0.0.1:6379/0", "USERNAME": "driftline", "PASSWORD": "pw",
                        "SSL_CA_CERTS": "/tmp/ca.pem"}.items():  # fmt: skip
        monkeypatch.setenv(f"DRIFTLINE_REDIS__{name}", value)
    settings = Settings().redis
    assert settings.tls and settings.username == "driftline" and settings.ssl_ca_certs == Path("/tmp/ca.pem")
    assert settings.password is not None and "pw" not in repr(settings)  # a secret


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"ssl_ca_certs": Path("ca.pem")}, "ssl_ca_certs set but url 'redis://127.0.0.1:6379/0' is not rediss://"),
        ({"url": "rediss://h:1/0", "ssl_certfile": Path("c.pem")}, "ssl_certfile and ssl_keyfile go together"),
        ({"username": "driftline"}, "username 'driftline' needs a password"),
    ],
)
def test_settings_that_cannot_work_are_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        RedisSettings(**fields)  # type: ignore[arg-type]


def _one_line(text: str | None) -> str:
    assert text is not None and "\n" not in text
    return text


def test_a_refused_login_names_the_user_and_the_settings_without_the_password() -> None:
    text = _one_line(refusal(redis.AuthenticationError("invalid username-password pair or user is disabled."), SECURE))
    assert "refused user 'driftline'" in text and "DRIFTLINE_REDIS__USERNAME" in text and "s3cret" not in text
    assert text.startswith("Redis at rediss://redis.internal:6380/0 ")
    wrapped = redis.exceptions.RedisClusterException("Redis Cluster cannot be connected: WRONGPASS invalid\nusername")
    assert "refused user" in _one_line(refusal(wrapped, SECURE))  # a cluster client's error wraps the node's


def test_an_untrusted_certificate_names_the_ca_setting() -> None:
    cause = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
                                            "unable to get local issuer certificate")  # fmt: skip
    error = redis.ConnectionError(f"Error 1 connecting to redis.internal:6380. {cause}.")
    error.__cause__ = cause
    text = _one_line(refusal(error, SECURE))
    assert "not trusted by /etc/redis/ca.pem" in text and "DRIFTLINE_REDIS__SSL_CA_CERTS" in text


def test_a_missing_permission_and_a_failed_handshake_are_refusals_too() -> None:
    assert "lacks a permission" in _one_line(refusal(redis.exceptions.NoPermissionError("NOPERM no flushall"), SECURE))
    handshake = redis.ConnectionError("Error 1 connecting: [SSL: WRONG_VERSION_NUMBER] wrong version number")
    assert "TLS handshake failed" in _one_line(refusal(handshake, SECURE))


def test_a_plaintext_client_dropped_by_a_tls_only_port_is_told_to_use_rediss() -> None:
    reset = redis.ConnectionError("Error while reading from localhost:6379 : (104, 'Connection reset by peer')")
    text = _one_line(refusal(reset, RedisSettings()))
    assert text.startswith("Redis at redis://127.0.0.1:6379/0 dropped the connection") and "rediss://" in text


def test_a_server_that_is_down_is_not_a_refusal() -> None:
    assert refusal(redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused."), SECURE) is None
    assert refusal(redis.TimeoutError("Timeout connecting to server"), SECURE) is None


def test_a_url_is_shown_without_its_password() -> None:
    assert display_url("redis://:pw@host:6379/0") == "redis://host:6379/0"
    assert display_url("rediss://user:pw@host:6380") == "rediss://host:6380"
    assert display_url("redis://host:6379/0") == "redis://host:6379/0"


def test_redis_cli_gets_the_same_login_and_tls_as_its_flags() -> None:
    assert cli_args(RedisSettings()) == []
    assert cli_args(SECURE) == ["--tls", "--cacert", "/etc/redis/ca.pem", "--user", "driftline", "-a", "s3cret"]
