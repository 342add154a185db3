"""The secured stack's Redis (`driftline stack up --secure`): TLS only, ACL users, generated passwords kept private,
and the client settings it hands out."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from driftline.settings import Settings, StackSettings
from stack import Stack
from stack.redis_security import ADMIN, REPLICA, USER, USER_COMMANDS, acl_lines


def settings(tmp_path: Path, *, secure: bool, cluster: bool = False) -> Settings:
    base = Settings()
    stack = StackSettings(**{**base.stack.model_dump(), "data_dir": tmp_path, "secure": secure,
                             "redis_cluster": cluster})  # fmt: skip
    return base.model_copy(update={"stack": stack})


def option(command: list[str], name: str) -> str | None:
    return command[command.index(name) + 1] if name in command else None


def test_the_acl_shuts_the_default_user_and_keeps_the_workers_user_to_its_keys_and_commands() -> None:
    lines = acl_lines("driftline:", {USER: "u" * 32, ADMIN: "a" * 32, REPLICA: "r" * 32})
    default, user, admin, replica = lines
    assert default.startswith("user default off") and "-@all" in default
    assert user.startswith(f"user {USER} on #") and " ~driftline:* " in user and "-@all" in user
    assert "u" * 32 not in "\n".join(lines)  # only SHA-256 digests of the passwords
    granted = {word[1:] for word in user.split() if word.startswith("+")}
    # the workers' batch write and lookup, a cluster client's slot map, WAIT for replicas; nothing that administers
    assert {"evalsha", "eval", "script|load", "mget", "set", "get", "wait", "cluster|slots", "ping"} <= granted
    assert not granted & {"config", "acl", "flushall", "flushdb", "keys", "debug", "shutdown", "@all"}
    assert granted == set(USER_COMMANDS)
    assert "~* &* +@all" in admin and "+psync" in replica and "+replconf" in replica


def test_a_key_prefix_that_is_no_acl_pattern_is_refused() -> None:
    with pytest.raises(ValueError, match="key prefix"):
        acl_lines("two words", {USER: "u", ADMIN: "a", REPLICA: "r"})


def test_the_plain_stack_is_unchanged(tmp_path: Path) -> None:
    (node,) = Stack(settings(tmp_path, secure=False)).redis_nodes
    command = node.command()
    assert option(command, "--port") == "6379" and "--tls-port" not in command and "--aclfile" not in command
    assert node.client_env() == {}


def test_a_secured_redis_speaks_tls_only_with_acl_users_and_private_generated_secrets(tmp_path: Path) -> None:
    (node,) = Stack(settings(tmp_path, secure=True)).redis_nodes
    node.prepare()
    command = node.command()
    assert option(command, "--port") == "0" and option(command, "--tls-port") == "6379"  # no plaintext port
    for name in ("--tls-cert-file", "--tls-key-file", "--tls-ca-cert-file", "--aclfile"):
        assert Path(str(option(command, name))).is_file(), name
    assert option(command, "--tls-auth-clients") == "optional"
    config = Path(command[1])
    assert config.name == "secure.conf" and "masterauth" in config.read_text()
    passwords = sorted((tmp_path / "tls").glob("redis-*.password"))
    assert [p.name for p in passwords] == [f"redis-{u}.password" for u in sorted((ADMIN, USER, REPLICA))]
    for private in [*passwords, config, Path(str(option(command, "--aclfile"))),
                    Path(str(option(command, "--tls-key-file")))]:  # fmt: skip
        assert stat.S_IMODE(private.stat().st_mode) == 0o600, private
    assert not any(p.read_text().strip() in " ".join(command) for p in passwords)  # no secret on the command line
    env = node.client_env()
    assert env["DRIFTLINE_REDIS__URL"] == "rediss://127.0.0.1:6379/0" and env["DRIFTLINE_REDIS__USERNAME"] == USER
    assert env["DRIFTLINE_REDIS__PASSWORD"] == (tmp_path / "tls" / f"redis-{USER}.password").read_text().strip()
    assert env["DRIFTLINE_REDIS__SSL_CA_CERTS"] == str((tmp_path / "tls" / "ca.pem").resolve())
    login = node.login()
    assert login.tls and login.username == ADMIN  # the stack's own probes log in as admin
    assert login.ssl_ca_certs == tmp_path.resolve() / "tls" / "ca.pem"


def test_set_up_again_keeps_the_passwords_and_the_certificate(tmp_path: Path) -> None:
    (node,) = Stack(settings(tmp_path, secure=True)).redis_nodes
    node.prepare()
    before = node.client_env(), (tmp_path / "tls" / "redis.pem").read_bytes()
    node.prepare()
    assert (node.client_env(), (tmp_path / "tls" / "redis.pem").read_bytes()) == before


def test_a_secured_cluster_also_encrypts_its_bus_and_replication(tmp_path: Path) -> None:
    stack = Stack(settings(tmp_path, secure=True, cluster=True))
    for node in stack.redis_nodes:
        node.prepare()
        command = node.command()
        assert option(command, "--tls-cluster") == "yes" and option(command, "--tls-replication") == "yes"
        assert option(command, "--tls-port") == str(node.port)
    assert stack.redis_nodes[0].client_env()["DRIFTLINE_REDIS__CLUSTER"] == "true"
