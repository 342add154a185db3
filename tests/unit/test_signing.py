"""Signed versions: the trainer's key signs each manifest; a verifier refuses unsigned, foreign-signed and
re-written versions wherever a version is verified (loading, alias moves); keys are made by one command."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import orjson
import pytest

from driftline.cli import main as driftline_main
from driftline.errors import ConfigError, IntegrityError, SignatureError
from driftline.registry import Registry, fingerprint_of
from driftline.settings import RegistrySettings, Settings, StackSettings
from driftline.signing import SIGNATURE_FILE, create_keys, ensure_keys, keys_of, load_signer, load_verifier
from tests.unit.test_registry import artifacts
from trainer.cli import main as trainer_main


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    return create_keys(tmp_path / "keys")


@pytest.fixture
def other_keys(tmp_path: Path) -> tuple[Path, Path]:
    return create_keys(tmp_path / "other-keys")


def trainer_registry(root: Path, private: Path) -> Registry:
    signer = load_signer(private)
    return Registry(root, "credit", signer=signer, verifier=signer.verifier)


def worker_registry(root: Path, public: Path) -> Registry:
    return Registry(root, "credit", verifier=load_verifier(public))


def test_key_creation_writes_a_private_key_only_its_owner_reads_and_never_overwrites(keys: tuple[Path, Path]) -> None:
    private, public = keys
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert private.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert public.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    assert load_signer(private).verifier.key_id == load_verifier(public).key_id
    before = private.read_bytes()
    with pytest.raises(ConfigError, match="already exists"):
        create_keys(private.parent)
    assert not ensure_keys(private.parent)  # the stack keeps the pair it made
    assert private.read_bytes() == before


def test_a_signed_version_verifies_and_every_file_is_covered(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    private, public = keys
    version = trainer_registry(tmp_path / "r", private).register(artifacts())
    signature = orjson.loads((tmp_path / "r" / "credit" / "versions" / "1" / SIGNATURE_FILE).read_bytes())
    assert signature["algorithm"] == "ed25519" and signature["key_id"] == load_verifier(public).key_id
    worker = worker_registry(tmp_path / "r", public)
    assert worker.verify(version).version == version
    worker.promote(version)  # alias moves verify too
    # a file changed and its manifest entry recomputed: the hashes agree, the signature does not
    path = worker.path(version)
    (path / "preprocessing.json").write_bytes(b'{"tag": "evil"}')
    manifest = orjson.loads((path / "manifest.json").read_bytes())
    manifest["files"]["preprocessing.json"] = hashlib.sha256(b'{"tag": "evil"}').hexdigest()
    manifest["fingerprint"] = fingerprint_of(manifest["files"])
    (path / "manifest.json").write_bytes(orjson.dumps(manifest))
    Registry(tmp_path / "r", "credit").verify(version)  # without a key, hashes alone pass it
    with pytest.raises(SignatureError, match=r"version 1: the signature of key \w+ does not match manifest.json"):
        worker.verify(version)


def test_unsigned_and_foreign_signed_versions_are_refused(
    tmp_path: Path, keys: tuple[Path, Path], other_keys: tuple[Path, Path]
) -> None:
    private, public = keys
    root = tmp_path / "r"
    trainer_registry(root, private).register(artifacts("signed"))
    unsigned = Registry(root, "credit").register(artifacts("unsigned"))
    foreign = trainer_registry(root, other_keys[0]).register(artifacts("foreign"))
    worker = worker_registry(root, public)
    assert worker.verify(1).version == 1
    with pytest.raises(SignatureError, match=rf"version {unsigned}: unsigned \(no manifest.sig\)"):
        worker.verify(unsigned)
    expected = rf"version {foreign}: signed by another key \({load_verifier(other_keys[1]).key_id}\)"
    with pytest.raises(SignatureError, match=expected):
        worker.verify(foreign)
    with pytest.raises(SignatureError):
        worker.promote(unsigned)
    assert worker.alias() is None
    assert issubclass(SignatureError, IntegrityError)  # a worker refuses it as it refuses an altered version


def test_a_garbled_signature_file_is_refused_in_one_line(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    private, public = keys
    version = trainer_registry(tmp_path / "r", private).register(artifacts())
    worker = worker_registry(tmp_path / "r", public)
    (worker.path(version) / SIGNATURE_FILE).write_bytes(b'{"algorithm": "ed25519", "key_id": "x", "signature": "!!"}')
    with pytest.raises(SignatureError, match=r"manifest\.sig is unreadable") as caught:
        worker.verify(version)
    assert "\n" not in str(caught.value)


def test_the_signature_file_is_the_registrys_own(tmp_path: Path) -> None:
    with pytest.raises(IntegrityError, match=r"manifest\.sig is written by the registry"):
        Registry(tmp_path, "credit").register({**artifacts(), SIGNATURE_FILE: b"{}"})


def settings_with(tmp_path: Path, **registry: object) -> Settings:
    return Settings(registry=RegistrySettings(root=tmp_path / "r", **registry),  # type: ignore[arg-type]
                    stack=StackSettings(data_dir=tmp_path / "stack"))  # fmt: skip


def test_keys_from_settings(tmp_path: Path, keys: tuple[Path, Path], other_keys: tuple[Path, Path]) -> None:
    private, public = keys
    assert keys_of(settings_with(tmp_path)) == (None, None)  # no key anywhere: today's unsigned registry
    signer, verifier = keys_of(settings_with(tmp_path, signing_key=private))
    assert signer is not None and verifier is not None and verifier.key_id == signer.verifier.key_id
    signer, verifier = keys_of(settings_with(tmp_path, signing_key=private), sign=False)
    assert signer is None and verifier is None
    signer, verifier = keys_of(settings_with(tmp_path, public_key=public, signing_key=private), sign=False)
    assert signer is None and verifier is not None and verifier.key_id == load_verifier(public).key_id
    with pytest.raises(ConfigError, match="is not the pair of public key"):
        keys_of(settings_with(tmp_path, signing_key=private, public_key=other_keys[1]))
    with pytest.raises(ConfigError, match="expected an Ed25519 public key"):
        keys_of(settings_with(tmp_path, public_key=tmp_path / "missing.pub"))
    with pytest.raises(ConfigError, match="expected an unencrypted Ed25519 private key"):
        keys_of(settings_with(tmp_path, signing_key=public))  # the public half where the private one belongs


def test_the_local_stacks_pair_is_the_default_when_present(tmp_path: Path) -> None:
    assert ensure_keys(tmp_path / "stack" / "keys")
    settings = settings_with(tmp_path)
    trainer = Registry.from_settings(settings)
    worker = Registry.from_settings(settings, sign=False)
    assert trainer.signer is not None and worker.signer is None
    assert worker.verifier is not None and worker.verifier.key_id == trainer.signer.verifier.key_id
    version = trainer.register(artifacts())
    assert worker.verify(version).version == version
    with pytest.raises(SignatureError, match="unsigned"):
        worker.verify(Registry(tmp_path / "r", "driftline").register(artifacts("unsigned")))
    # a key set explicitly takes nothing from the stack's pair: a deployment's own trainer key beside a local stack
    private, _ = create_keys(tmp_path / "own")
    signer, verifier = keys_of(settings_with(tmp_path, signing_key=private))
    assert signer is not None and verifier is not None and verifier.key_id == signer.verifier.key_id


def test_keys_create_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert driftline_main(["keys", "create", str(tmp_path / "k")]) == 0
    out = capsys.readouterr().out
    assert f"DRIFTLINE_REGISTRY__SIGNING_KEY={(tmp_path / 'k' / 'registry.key').resolve()}" in out
    assert f"DRIFTLINE_REGISTRY__PUBLIC_KEY={(tmp_path / 'k' / 'registry.pub').resolve()}" in out
    assert driftline_main(["keys", "create", str(tmp_path / "k")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "registry.key already exists" in err


def test_a_key_rotation_signs_kept_versions_again(
    tmp_path: Path, keys: tuple[Path, Path], other_keys: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    (old_private, old_public), (new_private, new_public) = keys, other_keys
    root = tmp_path / "r"
    kept = trainer_registry(root, old_private).register(artifacts("kept"))
    unsigned = Registry(root, "credit").register(artifacts("unsigned"))
    monkeypatch.setenv("DRIFTLINE_REGISTRY__ROOT", str(root))
    monkeypatch.setenv("DRIFTLINE_REGISTRY__MODEL_NAME", "credit")
    monkeypatch.setenv("DRIFTLINE_REGISTRY__SIGNING_KEY", str(new_private))
    assert trainer_main(["models", "sign", str(kept), "--previous-key", str(old_public)]) == 0
    assert f"version {kept}: signed with key {load_verifier(new_public).key_id}" in capsys.readouterr().out
    assert worker_registry(root, new_public).verify(kept).version == kept
    with pytest.raises(SignatureError, match="signed by another key"):
        worker_registry(root, old_public).verify(kept)
    # only what the previous key signed is signed again: not a version anyone could have written
    assert trainer_main(["models", "sign", str(unsigned), "--previous-key", str(old_public)]) == 1
    assert "unsigned (no manifest.sig)" in capsys.readouterr().err
    with pytest.raises(SignatureError, match="unsigned"):
        worker_registry(root, new_public).verify(unsigned)
