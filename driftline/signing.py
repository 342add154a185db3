"""Signed model versions: an Ed25519 key pair, the trainer's signature over a version's manifest, and its check.

Anyone who can write to the registry can recompute a manifest's hashes; only the holder of the private key can
sign it. The trainer signs the exact bytes of each version's ``manifest.json`` and writes the signature beside it
(``manifest.sig``, inside the version before it is renamed into place). Workers and ``models promote`` hold only
the public key: with one configured, a version that is unsigned, signed by another key, or whose manifest changed
after signing is refused (``SignatureError``). The manifest holds every file's sha256, so a valid signature covers
every file of the version.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from driftline.errors import ConfigError, SignatureError
from driftline.settings import Settings

SIGNATURE_FILE = "manifest.sig"
PRIVATE_KEY_FILE = "registry.key"
PUBLIC_KEY_FILE = "registry.pub"
_ALGORITHM = "ed25519"


def key_id(public: Ed25519PublicKey) -> str:
    """A short name for a public key (sha256 of its raw bytes, 16 hex digits): says in errors which key signed."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class Verifier:
    """Checks versions' signatures against one trusted public key."""

    public: Ed25519PublicKey

    @property
    def key_id(self) -> str:
        return key_id(self.public)

    def verify(self, manifest: bytes, signature: bytes | None, version: int) -> None:
        """Raise SignatureError unless ``signature`` (the ``manifest.sig`` content, None if absent) is this key's
        signature over ``manifest``."""
        if signature is None:
            raise SignatureError(
                f"version {version}: unsigned (no {SIGNATURE_FILE}); only versions signed by key {self.key_id} are "
                "trusted"
            )
        try:
            raw = orjson.loads(signature)
            algorithm, signer = raw["algorithm"], str(raw["key_id"])
            value = base64.b64decode(raw["signature"], validate=True)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise SignatureError(
                f"version {version}: {SIGNATURE_FILE} is unreadable: expected {{algorithm, key_id, signature}}: {exc!r}"
            ) from exc
        if algorithm != _ALGORITHM:
            raise SignatureError(f"version {version}: {SIGNATURE_FILE} uses {algorithm!r}, expected {_ALGORITHM!r}")
        try:
            self.public.verify(value, manifest)
        except InvalidSignature:
            if signer != self.key_id:
                raise SignatureError(
                    f"version {version}: signed by another key ({signer}); only key {self.key_id} is trusted"
                ) from None
            raise SignatureError(
                f"version {version}: the signature of key {self.key_id} does not match manifest.json (altered after "
                "signing)"
            ) from None


@dataclass(frozen=True)
class Signer:
    """Signs manifests with the private key (the trainer's alone)."""

    private: Ed25519PrivateKey

    @property
    def verifier(self) -> Verifier:
        return Verifier(self.private.public_key())

    def sign(self, manifest: bytes) -> bytes:
        """The content of ``manifest.sig`` for ``manifest``: algorithm, key id and base64 signature, as JSON."""
        signature = base64.b64encode(self.private.sign(manifest)).decode()
        payload = {"algorithm": _ALGORITHM, "key_id": self.verifier.key_id, "signature": signature}
        return orjson.dumps(payload, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)


def create_keys(directory: Path) -> tuple[Path, Path]:
    """Write a new key pair into ``directory``: ``registry.key`` (private, PEM, mode 0600) and ``registry.pub``
    (public, PEM). Refuses to overwrite either: a lost private key cannot sign again, a replaced one makes every
    worker refuse what it signs."""
    private_path, public_path = directory / PRIVATE_KEY_FILE, directory / PUBLIC_KEY_FILE
    for path in (private_path, public_path):
        if path.exists():
            raise ConfigError(f"{path} already exists; keys are never overwritten (remove it, or pick another folder)")
    directory.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())  # fmt: skip
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    public_path.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return private_path, public_path


def ensure_keys(directory: Path) -> bool:
    """Create a key pair in ``directory`` unless one is there (the local stack's); True if it made one."""
    if (directory / PRIVATE_KEY_FILE).exists() or (directory / PUBLIC_KEY_FILE).exists():
        return False
    create_keys(directory)
    return True


def load_signer(path: Path) -> Signer:
    """The private key at ``path`` (PEM, unencrypted Ed25519); ConfigError says what is wrong."""
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"signing key {path}: expected an unencrypted Ed25519 private key (PEM): {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"signing key {path}: expected an Ed25519 key, found {type(key).__name__}")
    return Signer(key)


def load_verifier(path: Path) -> Verifier:
    """The public key at ``path`` (PEM, Ed25519); ConfigError says what is wrong."""
    try:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"public key {path}: expected an Ed25519 public key (PEM): {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"public key {path}: expected an Ed25519 key, found {type(key).__name__}")
    return Verifier(key)


def keys_of(settings: Settings, *, sign: bool = True) -> tuple[Signer | None, Verifier | None]:
    """The signer (None unless ``sign``: only the trainer loads the private key) and verifier the settings ask for.

    With neither key set, the local stack's pair (``<stack data_dir>/keys``, made by ``stack up``) is used where it
    exists; with either set, only what is set (a pair is never half the stack's); with no key at all, versions are
    neither signed nor checked. A signer with no public key set trusts its own signatures; a set public key must
    be the signer's own.
    """
    private, public = settings.registry.signing_key, settings.registry.public_key
    if private is None and public is None:
        default = settings.stack.data_dir / "keys"
        private, public = _existing(default / PRIVATE_KEY_FILE), _existing(default / PUBLIC_KEY_FILE)
    if not sign:
        private = None
    signer = load_signer(private) if private is not None else None
    verifier = load_verifier(public) if public is not None else None
    if signer is not None and verifier is None:
        verifier = signer.verifier
    if signer is not None and verifier is not None and signer.verifier.key_id != verifier.key_id:
        raise ConfigError(
            f"signing key {private} (key {signer.verifier.key_id}) is not the pair of public key {public} "
            f"(key {verifier.key_id}): every version it signs would be refused"
        )
    return signer, verifier


def _existing(path: Path) -> Path | None:
    return path if path.is_file() else None
