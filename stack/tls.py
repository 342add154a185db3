"""A throw-away certificate authority for the secured local stack (`driftline stack up --secure`).

Made at set-up with Debian's ``openssl``, kept under the stack's data directory (``<data_dir>/tls``), never
committed: a CA, server certificates it signs (SAN 127.0.0.1 and localhost), a PKCS#12 keystore where a JVM wants
one, and generated passwords. Every function makes its file once and returns the existing one afterwards.
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from driftline.errors import StackError

CA_NAME = "Driftline local stack CA"
LOCAL_HOSTS = ("127.0.0.1", "localhost")
_DAYS = "825"  # a server certificate longer-lived than this is refused by some TLS clients


def _openssl(*args: str) -> None:
    result = subprocess.run(["openssl", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise StackError(f"openssl {args[0]} failed (exit {result.returncode}): {result.stderr.strip()[-800:]}")


def _private(path: Path) -> Path:
    path.chmod(0o600)
    return path


def password(path: Path) -> str:
    """The password kept in ``path`` (mode 0600), generated once: 32 random hex digits, safe in any config syntax."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(16) + "\n")
        _private(path)
    return path.read_text().strip()


@dataclass(frozen=True)
class ServerCertificate:
    """A server's PEM certificate and unencrypted PKCS#8 key (mode 0600), and the CA certificate that signed it."""

    cert: Path
    key: Path
    ca: Path


@dataclass(frozen=True)
class CertificateAuthority:
    """A CA: its PEM certificate (what clients trust) and key (mode 0600)."""

    cert: Path
    key: Path

    @classmethod
    def ensure(cls, directory: Path, name: str = CA_NAME) -> CertificateAuthority:
        """The CA in ``directory`` (``ca.pem``, ``ca.key``), made once."""
        directory.mkdir(parents=True, exist_ok=True)
        ca = cls(directory / "ca.pem", directory / "ca.key")
        if not (ca.cert.exists() and ca.key.exists()):
            _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "3650",
                     "-subj", f"/CN={name}", "-keyout", str(ca.key), "-out", str(ca.cert),
                     "-addext", "basicConstraints=critical,CA:TRUE",
                     "-addext", "keyUsage=critical,keyCertSign,cRLSign")  # fmt: skip
            _private(ca.key)
        return ca

    def issue(self, directory: Path, name: str, hosts: Sequence[str] = LOCAL_HOSTS) -> ServerCertificate:
        """A certificate for ``name`` (``<name>.pem``, ``<name>.key`` in ``directory``) valid for ``hosts`` (IP
        addresses and DNS names), signed by this CA; made once, and again if this CA did not sign the one there."""
        directory.mkdir(parents=True, exist_ok=True)
        issued = ServerCertificate(directory / f"{name}.pem", directory / f"{name}.key", self.cert)
        if issued.cert.exists() and issued.key.exists() and self.signed(issued.cert):
            return issued
        request = directory / f"{name}.csr"
        extensions = directory / f"{name}.ext"
        san = ",".join(f"{'IP' if _is_ip(host) else 'DNS'}:{host}" for host in hosts)
        extensions.write_text(f"subjectAltName={san}\nbasicConstraints=CA:FALSE\n"
                              "keyUsage=critical,digitalSignature,keyEncipherment\n"
                              "extendedKeyUsage=serverAuth,clientAuth\n")  # fmt: skip
        _openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
                 "-keyout", str(issued.key), "-out", str(request))  # fmt: skip
        _private(issued.key)
        _openssl("x509", "-req", "-in", str(request), "-CA", str(self.cert), "-CAkey", str(self.key),
                 "-CAcreateserial", "-days", _DAYS, "-sha256", "-extfile", str(extensions),
                 "-out", str(issued.cert))  # fmt: skip
        request.unlink()
        extensions.unlink()
        return issued

    def signed(self, cert: Path) -> bool:
        """Whether this CA signed ``cert`` (``openssl verify``)."""
        result = subprocess.run(["openssl", "verify", "-CAfile", str(self.cert), str(cert)], capture_output=True)
        return result.returncode == 0


def pkcs12_keystore(issued: ServerCertificate, path: Path, password_file: Path) -> Path:
    """``issued`` as a PKCS#12 keystore (key, certificate and CA chain) under the password in ``password_file``
    (see ``password``), for a JVM; made again whenever the certificate is newer than the keystore."""
    if not path.exists() or path.stat().st_mtime < issued.cert.stat().st_mtime:
        _openssl("pkcs12", "-export", "-in", str(issued.cert), "-inkey", str(issued.key), "-certfile", str(issued.ca),
                 "-name", path.stem, "-out", str(path), "-passout", f"file:{password_file}")  # fmt: skip
        _private(path)
    return path


def _is_ip(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def tls_dir(data_dir: Path) -> Path:
    """Where the secured stack keeps its CA, certificates, keystores and passwords: ``<data_dir>/tls``."""
    return data_dir.resolve() / "tls"


def stack_ca(data_dir: Path) -> CertificateAuthority:
    """The secured stack's one CA (every service's certificate is issued by it, in ``tls_dir(data_dir)``)."""
    return CertificateAuthority.ensure(tls_dir(data_dir))
