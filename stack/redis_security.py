"""The secured stack's Redis (`driftline stack up --secure`): TLS only, and ACL users instead of the open ``default``.

Users (passwords generated at set-up, kept 0600 in ``<data_dir>/tls/<user>.password``; the ACL file holds only their
SHA-256):

- ``driftline``: what the workers, tests and benchmarks do, on the keys under the settings' key prefix only;
- ``admin``: everything (the stack's probes, forming a cluster, ``ACL SETUSER`` to rotate a password);
- ``replica``: what a replica needs of its primary (a cluster's replication);
- ``default``: off, so nothing is served without a login.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from driftline.settings import RedisSettings
from stack.tls import ServerCertificate, password, stack_ca, tls_dir

USER, ADMIN, REPLICA = "driftline", "admin", "replica"

# What the project's clients send: the workers' batch scripts and lookups (EVALSHA, else SCRIPT LOAD or EVAL; the
# scripts' own SET and GET are checked too), WAIT for replicas, a cluster client's CLUSTER SLOTS and COMMAND, and the
# reads and clean-ups of tests and benchmarks. Nothing that administers the server (CONFIG, ACL, FLUSHALL, KEYS, DEBUG).
USER_COMMANDS = (
    "ping", "echo", "hello", "auth", "select", "quit", "readonly", "info", "dbsize", "command",
    "client|setname", "client|getname", "client|id",
    "get", "mget", "set", "del", "unlink", "exists", "ttl", "pttl", "strlen", "scan",
    "evalsha", "eval", "script|load", "script|exists", "wait",
    "cluster|slots", "cluster|shards", "cluster|nodes", "cluster|info", "cluster|myid",
)  # fmt: skip
REPLICA_COMMANDS = ("ping", "psync", "sync", "replconf", "auth", "hello")


def _write_private(path: Path, text: str) -> None:
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(text)


def _hashed(secret: str) -> str:
    return "#" + hashlib.sha256(secret.encode()).hexdigest()


def acl_lines(key_prefix: str, passwords: dict[str, str]) -> list[str]:
    """The ACL file's users: ``passwords`` maps ``driftline``, ``admin`` and ``replica`` to theirs."""
    if any(c.isspace() for c in key_prefix) or not key_prefix:
        raise ValueError(f"the key prefix must be a non-empty word for an ACL key pattern, found {key_prefix!r}")
    return [
        "user default off resetpass resetkeys resetchannels -@all",
        f"user {USER} on {_hashed(passwords[USER])} resetkeys ~{key_prefix}* resetchannels -@all "
        + " ".join(f"+{c}" for c in USER_COMMANDS),
        f"user {ADMIN} on {_hashed(passwords[ADMIN])} ~* &* +@all",
        f"user {REPLICA} on {_hashed(passwords[REPLICA])} resetkeys resetchannels -@all "
        + " ".join(f"+{c}" for c in REPLICA_COMMANDS),
    ]


@dataclass(frozen=True)
class RedisSecurity:
    """The files a secured Redis node is started with, and what its clients need to log in."""

    certificate: ServerCertificate
    acl_file: Path
    passwords: dict[str, str]

    @classmethod
    def ensure(cls, data_dir: Path, node_dir: Path, key_prefix: str) -> RedisSecurity:
        """The stack's CA and Redis certificate, the users' passwords (made once: the password files are what the
        local stack's users are), and ``node_dir``'s ACL and config files, written from them at every start."""
        ca = stack_ca(data_dir)
        directory = tls_dir(data_dir)
        certificate = ca.issue(directory, "redis")
        passwords = {user: password(directory / f"redis-{user}.password") for user in (USER, ADMIN, REPLICA)}
        node_dir.mkdir(parents=True, exist_ok=True)
        security = cls(certificate, node_dir / "users.acl", passwords)
        _write_private(security.acl_file, "\n".join(acl_lines(key_prefix, passwords)) + "\n")
        # Redis reads a replica's password for its primary from a config file only: not on a command line for all
        _write_private(security.config_file, f"masteruser {REPLICA}\nmasterauth {passwords[REPLICA]}\n")
        return security

    @classmethod
    def existing(cls, data_dir: Path, node_dir: Path) -> RedisSecurity:
        """The files as ``ensure`` made them, without making any (for probes of a running stack)."""
        directory = tls_dir(data_dir)
        passwords = {}
        for user in (USER, ADMIN, REPLICA):
            path = directory / f"redis-{user}.password"
            passwords[user] = path.read_text().strip() if path.exists() else ""
        certificate = ServerCertificate(directory / "redis.pem", directory / "redis.key", directory / "ca.pem")
        return cls(certificate, node_dir / "users.acl", passwords)

    @property
    def config_file(self) -> Path:
        """The node's config file (the first argument of redis-server): a replica's login to its primary."""
        return self.acl_file.with_name("secure.conf")

    def server_args(self, port: int, clustered: bool) -> list[str]:
        """redis-server options after the config file: TLS on ``port`` and no plaintext port, the ACL file; in a
        cluster TLS between nodes too."""
        cluster = ["--tls-cluster", "yes", "--tls-replication", "yes"] if clustered else []
        return [
            "--port", "0",
            "--tls-port", str(port),
            "--tls-cert-file", str(self.certificate.cert),
            "--tls-key-file", str(self.certificate.key),
            "--tls-ca-cert-file", str(self.certificate.ca),
            "--tls-auth-clients", "optional",  # a client certificate is checked if sent, not required
            "--aclfile", str(self.acl_file),
            *cluster,
        ]  # fmt: skip

    def login(self, port: int, user: str = ADMIN) -> RedisSettings:
        """The settings of a client of the node on ``port`` logged in as ``user`` over TLS."""
        return RedisSettings(url=f"rediss://127.0.0.1:{port}/0", username=user,
                             password=SecretStr(self.passwords[user]), ssl_ca_certs=self.certificate.ca)  # fmt: skip
