"""The one translation of ``RedisSettings`` (ACL user, password, TLS) into redis-py's keywords (and redis-cli's
flags), so that a setting means the same to every Redis client of the project: the workers' asyncio client (one
server or a cluster), the stack's probes, the benchmarks' and the tests' readers.

A failure to log in or to trust the server's certificate is a setting to fix, not an outage to wait out:
``check_redis`` turns it into one line.
"""

from __future__ import annotations

import ssl
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from driftline.errors import ConfigError
from driftline.settings import RedisSettings


def connection_options(settings: RedisSettings) -> dict[str, Any]:
    """Keywords for any redis-py client, sync or asyncio, one server or a cluster, built from the url
    (``from_url``) or from a host and port (add ``ssl=settings.tls``)."""
    options: dict[str, Any] = {}
    if settings.username is not None:
        options["username"] = settings.username
    if settings.password is not None:
        options["password"] = settings.password.get_secret_value()
    if settings.tls:  # redis-py verifies the certificate and the host name by default; said here so it stays so
        options.update(ssl_cert_reqs="required", ssl_check_hostname=True)
        for keyword, path in (("ssl_ca_certs", settings.ssl_ca_certs), ("ssl_certfile", settings.ssl_certfile),
                              ("ssl_keyfile", settings.ssl_keyfile)):  # fmt: skip
            if path is not None:
                options[keyword] = str(path)
    return options


def cli_args(settings: RedisSettings) -> list[str]:
    """The same login and TLS in redis-cli's and redis-benchmark's flags (the password as ``-a``: pass these in a
    process's arguments only on a host of your own, or give it ``REDISCLI_AUTH`` instead)."""
    args = []
    if settings.tls:
        args.append("--tls")
        for flag, path in (("--cacert", settings.ssl_ca_certs), ("--cert", settings.ssl_certfile),
                           ("--key", settings.ssl_keyfile)):  # fmt: skip
            if path is not None:
                args += [flag, str(path)]
    if settings.username is not None:
        args += ["--user", settings.username]
    if settings.password is not None:
        args += ["-a", settings.password.get_secret_value()]
    return args


def sync_client(settings: RedisSettings, **extra: Any) -> redis.Redis | redis.RedisCluster:
    """A synchronous client of ``settings.url`` (a cluster's with ``settings.cluster``); ``extra`` adds keywords
    such as timeouts."""
    options = {**connection_options(settings), **extra}
    if settings.cluster:
        return redis.RedisCluster.from_url(settings.url, **options)
    return redis.Redis.from_url(settings.url, **options)


# How a refused login reads, also inside a cluster client's own exception (which wraps the node's error as text).
_LOGIN_REFUSED = ("WRONGPASS", "NOAUTH", "invalid username-password pair", "Authentication required")


def refusal(exc: BaseException, settings: RedisSettings) -> str | None:
    """One line saying why Redis at ``settings.url`` refused us (a login, a permission, a TLS handshake: settings to
    fix), naming the setting to look at; None when ``exc`` is not a refusal (a server down or slow is waited for)."""
    where = display_url(settings.url)
    text = " ".join(str(exc).split()) or exc.__class__.__name__
    user = settings.username or "default"
    if isinstance(exc, redis.AuthenticationError) or any(sign in text for sign in _LOGIN_REFUSED):
        return f"Redis at {where} refused user {user!r}: {text} (check DRIFTLINE_REDIS__USERNAME and PASSWORD)"
    if isinstance(exc, redis.exceptions.NoPermissionError) or "NOPERM" in text:
        return f"Redis at {where}: user {user!r} lacks a permission: {text}"
    tls = _tls_problem(exc)
    if tls == "certificate":
        ca = settings.ssl_ca_certs or "the system's CAs"
        return (f"Redis at {where}: its TLS certificate is not trusted by {ca}: {text} "
                f"(check DRIFTLINE_REDIS__SSL_CA_CERTS)")  # fmt: skip
    if tls == "handshake":
        return f"Redis at {where}: the TLS handshake failed: {text} (does the server speak TLS on that port?)"
    if not settings.tls and "reset by peer" in text:  # a TLS-only port drops a plaintext client's first command
        return f"Redis at {where} dropped the connection at once ({text}): if it serves TLS only, use a rediss:// url"
    return None


def _tls_problem(exc: BaseException) -> str | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return "certificate"
        if isinstance(seen, ssl.SSLError) or "SSL" in str(seen):
            return "handshake"
        seen = seen.__cause__ or seen.__context__
    return None


def display_url(url: str) -> str:
    """``url`` without a password it may hold, fit for a log line."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}{rest.rpartition('@')[2]}" if sep else url


def check_redis(settings: RedisSettings, *, timeout: float = 5.0) -> bool:
    """PING Redis once with the settings' credentials and TLS: True if it answered, False if it could not be
    reached (down or slow: callers wait for it as they would anyway); a refusal raises ``ConfigError`` in one line."""
    client = None
    try:
        client = sync_client(settings, socket_timeout=timeout, socket_connect_timeout=timeout,
                             retry=Retry(NoBackoff(), 0))  # fmt: skip
        return bool(client.ping())
    except (redis.RedisError, redis.exceptions.RedisClusterException, OSError) as exc:
        why = refusal(exc, settings)
        if why is not None:
            raise ConfigError(why) from None
        return False
    finally:
        if client is not None:
            client.close()
