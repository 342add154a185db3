"""stack/tls.py: the secured stack's throw-away CA, checked by a real TLS handshake over a socket pair (no port)."""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
from pathlib import Path

import pytest

from stack.tls import CertificateAuthority, ServerCertificate, password, pkcs12_keystore


def _handshake(issued: ServerCertificate, trusted_ca: Path, server_hostname: str) -> str:
    """Connect a client trusting ``trusted_ca`` to a server presenting ``issued``; the negotiated TLS version."""
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(issued.cert, issued.key)
    client_context = ssl.create_default_context(cafile=str(trusted_ca))
    left, right = socket.socketpair()
    errors: list[Exception] = []

    def serve() -> None:
        try:
            with server_context.wrap_socket(right, server_side=True) as server:
                server.recv(1)
        except (ssl.SSLError, OSError) as exc:
            errors.append(exc)

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with client_context.wrap_socket(left, server_hostname=server_hostname) as client:
            version = client.version() or ""
            client.sendall(b"x")
        return version
    finally:
        right.close()
        thread.join(timeout=10)


def test_a_certificate_issued_by_the_ca_is_trusted_for_both_local_names(tmp_path: Path) -> None:
    ca = CertificateAuthority.ensure(tmp_path / "tls")
    issued = ca.issue(tmp_path / "tls", "kafka")
    assert oct(issued.key.stat().st_mode & 0o777) == "0o600" and oct(ca.key.stat().st_mode & 0o777) == "0o600"
    for host in ("127.0.0.1", "localhost"):
        assert _handshake(issued, ca.cert, host).startswith("TLS")


def test_a_client_trusting_another_ca_refuses_the_certificate(tmp_path: Path) -> None:
    ca = CertificateAuthority.ensure(tmp_path / "one")
    other = CertificateAuthority.ensure(tmp_path / "two", name="someone else")
    issued = ca.issue(tmp_path / "one", "kafka")
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(issued, other.cert, "127.0.0.1")
    assert ca.signed(issued.cert) and not other.signed(issued.cert)


def test_a_name_outside_the_certificate_is_refused(tmp_path: Path) -> None:
    ca = CertificateAuthority.ensure(tmp_path)
    issued = ca.issue(tmp_path, "kafka")
    with pytest.raises(ssl.SSLCertVerificationError, match="match"):
        _handshake(issued, ca.cert, "example.com")


def test_everything_is_made_once_and_a_certificate_of_a_replaced_ca_is_issued_again(tmp_path: Path) -> None:
    ca = CertificateAuthority.ensure(tmp_path)
    issued = ca.issue(tmp_path, "redis")
    first_ca, first_cert = ca.cert.read_bytes(), issued.cert.read_bytes()
    assert CertificateAuthority.ensure(tmp_path).cert.read_bytes() == first_ca
    assert ca.issue(tmp_path, "redis").cert.read_bytes() == first_cert
    ca.cert.unlink()
    renewed = CertificateAuthority.ensure(tmp_path)
    assert renewed.cert.read_bytes() != first_ca
    assert renewed.issue(tmp_path, "redis").cert.read_bytes() != first_cert
    assert renewed.signed(issued.cert)


def test_passwords_are_random_private_and_kept(tmp_path: Path) -> None:
    first = password(tmp_path / "a.password")
    assert len(first) == 32 and first == password(tmp_path / "a.password") != password(tmp_path / "b.password")
    assert oct((tmp_path / "a.password").stat().st_mode & 0o777) == "0o600"


def test_the_keystore_opens_with_its_password_only(tmp_path: Path) -> None:
    ca = CertificateAuthority.ensure(tmp_path)
    issued = ca.issue(tmp_path, "kafka")
    password(tmp_path / "store.password")
    store = pkcs12_keystore(issued, tmp_path / "kafka.p12", tmp_path / "store.password")

    def opens(secret_file: Path) -> bool:
        return subprocess.run(["openssl", "pkcs12", "-in", str(store), "-noout", "-passin", f"file:{secret_file}"],
                              capture_output=True).returncode == 0  # fmt: skip

    (tmp_path / "wrong").write_text("not-it\n")
    assert opens(tmp_path / "store.password") and not opens(tmp_path / "wrong")
