"""The model registry: numbered versions and aliases on a (shared) filesystem (DESIGN section 4).

    <root>/<model>/versions/<n>/        model.keras, preprocessing.json, ..., manifest.json, manifest.sig
    <root>/<model>/aliases/<name>.json  {"version": n, "previous": m, "set_at": "<ISO-8601 UTC>"}
    <root>/<model>/.lock                flock'd while a version number is allocated or an alias moves
    <root>/<model>/.tmp-*               versions being written: never listed, swept when stale

A version is written into a temporary directory, its ``manifest.json`` (sha256 of every file) last, then
renamed into place, so it is either whole or absent. With a signer, the manifest's signature (``manifest.sig``)
is written with it; with a verifier, a version whose signature does not check is refused like an altered one
(driftline/signing.py). Nothing here imports TensorFlow.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from driftline.contract import Contract
from driftline.errors import ConfigError, ContractMismatch, IntegrityError, VersionNotFound
from driftline.modelio import inspect_keras_archive
from driftline.registry.alias import PRODUCTION, STAGING, AliasInfo, read_alias, remove_alias, write_alias
from driftline.registry.compatibility import contract_difference
from driftline.registry.files import fsync_dir, replace_atomically, sweep_stale, write_file
from driftline.registry.lineage import LINEAGE_KEY, Lineage
from driftline.registry.lock import locked
from driftline.registry.manifest import (
    Manifest,
    VersionInfo,
    fingerprint_of,
    manifest_bytes,
    parse_manifest,
    read_manifest,
    verify_files,
)
from driftline.registry.names import CONTRACT_FILE, MANIFEST_FILE, MODEL_FILE, check_file_name, check_name
from driftline.settings import Settings
from driftline.signing import SIGNATURE_FILE, Signer, Verifier, keys_of

logger = logging.getLogger(__name__)


class Registry:
    """Versions and aliases of one model under ``root``. Several writers may share it (flock).

    ``signer``: sign each new version's manifest (the trainer). ``verifier``: refuse versions it does not
    find signed by its key, wherever a version is verified (loading, alias moves).
    """

    def __init__(
        self,
        root: Path,
        model: str,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        lock_timeout: float = 30.0,
        stale_after: timedelta = timedelta(hours=1),
        signer: Signer | None = None,
        verifier: Verifier | None = None,
    ) -> None:
        self.root = Path(root)
        self.model = check_name(model, "model name")
        self.model_dir = self.root / model
        self._clock = clock
        self._lock_timeout = lock_timeout
        self._stale_after = stale_after
        self.signer = signer
        self.verifier = verifier

    @classmethod
    def from_settings(cls, settings: Settings, *, sign: bool = True) -> Registry:
        """The registry the settings name, with the keys they ask for (``driftline.signing.keys_of``); ``sign=False``
        for readers that never register (workers), which then never load the private key."""
        signer, verifier = keys_of(settings, sign=sign)
        return cls(settings.registry.root, settings.registry.model_name, signer=signer, verifier=verifier)

    def __repr__(self) -> str:
        return f"Registry(root={str(self.root)!r}, model={self.model!r})"

    def register(
        self, files: Mapping[str, Path | bytes], *, metadata: Mapping[str, Any] | None = None,
        new_contract: bool = False,
    ) -> int:
        """Write a new version from ``{file name: source path or bytes}``; return its number.

        ``model.keras`` is required and checked (a zip, no Lambda layer); refused kinds raise IntegrityError.
        ``metadata`` (JSON-serialisable: data window, reason, ...) is kept in the manifest. A ``contract.yaml``
        that is not production's contract is refused (ContractMismatch) unless ``new_contract``; the
        difference is then recorded in the metadata (``new_contract``).
        """
        if MODEL_FILE not in files:
            raise IntegrityError(f"a version needs {MODEL_FILE}; found files {sorted(files)}")
        for name in files:
            check_file_name(name)
        self.model_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.model_dir))
        try:
            os.chmod(tmp, 0o755)  # mkdtemp gives 0700; workers may read as another user
            hashes = {name: write_file(tmp / name, source) for name, source in sorted(files.items())}
            inspect_keras_archive(tmp / MODEL_FILE)
            if CONTRACT_FILE in files:
                change = self.check_contract(Contract.from_yaml(tmp / CONTRACT_FILE), new_contract=new_contract)
                if change is not None:
                    metadata = {**(metadata or {}), "new_contract": change}
            with self._locked():
                sweep_stale(self.model_dir, self._stale_after)
                versions_dir = self.model_dir / "versions"
                versions_dir.mkdir(exist_ok=True)
                version = max(self._version_numbers(), default=0) + 1
                manifest = manifest_bytes(version, hashes, self._clock(), metadata)
                write_file(tmp / MANIFEST_FILE, manifest)
                if self.signer is not None:
                    write_file(tmp / SIGNATURE_FILE, self.signer.sign(manifest))
                fsync_dir(tmp)
                os.rename(tmp, versions_dir / str(version))  # fails, never merges, if the number is taken
                fsync_dir(versions_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        logger.info(
            "registered model=%s model_version=%d fingerprint=%s",
            self.model,
            version,
            fingerprint_of(hashes),
        )
        return version

    def path(self, version: int) -> Path:
        """The directory of ``version``; VersionNotFound if it does not exist."""
        path = self.model_dir / "versions" / str(int(version))
        if not path.is_dir():
            raise VersionNotFound(
                f"model {self.model!r} has no version {version}; found {self._version_numbers()}"
            )
        return path

    def manifest(self, version: int) -> Manifest:
        """Read ``manifest.json`` of ``version`` (no hashing: see :meth:`verify`)."""
        return read_manifest(self.path(version), version)

    def verify(self, version: int) -> Manifest:
        """Check the signature of ``version``'s manifest (with a verifier), then re-hash every file against it;
        IntegrityError (SignatureError for the signature) names the first problem."""
        if self.verifier is None:
            manifest = self.manifest(version)
        else:
            path = self.path(version)
            try:
                data = (path / MANIFEST_FILE).read_bytes()  # read once: the bytes checked are the bytes parsed
                signature = (path / SIGNATURE_FILE).read_bytes() if (path / SIGNATURE_FILE).exists() else None
            except OSError as exc:
                raise IntegrityError(f"version {version}: {MANIFEST_FILE} is missing or unreadable: {exc!r}") from exc
            self.verifier.verify(data, signature, version)
            manifest = parse_manifest(data, version)
        verify_files(self.path(version), manifest, version)
        return manifest

    def sign(self, version: int, *, signed_by: Verifier) -> Manifest:
        """Sign ``version`` again with this registry's signer (a key rotation), once it verifies against
        ``signed_by``, the key it was signed with; the new signature replaces the old atomically."""
        if self.signer is None:
            raise ConfigError(f"no signing key to sign version {version} with: set registry.signing_key")
        path = self.path(version)
        data = (path / MANIFEST_FILE).read_bytes()
        old = path / SIGNATURE_FILE
        signed_by.verify(data, old.read_bytes() if old.exists() else None, version)
        manifest = parse_manifest(data, version)
        verify_files(path, manifest, version)
        # the temp file outside the version's folder: a crash must not leave an unlisted file in it
        replace_atomically(old, self.signer.sign(data), tmp_dir=self.model_dir)
        logger.info("signed model=%s model_version=%d again with key %s", self.model, version,
                    self.signer.verifier.key_id)  # fmt: skip
        return manifest

    def versions(self) -> list[VersionInfo]:
        """Every readable version, oldest first. Temporary directories are not versions; unreadable ones are
        logged and skipped (their numbers are still never reused)."""
        alias = self.alias(PRODUCTION)
        infos = []
        for version in self._version_numbers():
            try:
                infos.append(self._info(version, alias))
            except IntegrityError as exc:
                logger.warning("skipping unreadable model=%s model_version=%d: %s", self.model, version, exc)
        return infos

    def get(self, version: int) -> VersionInfo:
        """One version's listing entry; VersionNotFound if absent."""
        return self._info(version, self.alias(PRODUCTION))

    def latest(self) -> VersionInfo:
        """The highest readable version; VersionNotFound if there is none."""
        infos = self.versions()
        if not infos:
            raise VersionNotFound(f"model {self.model!r} has no versions under {self.model_dir}")
        return infos[-1]

    def alias(self, name: str = PRODUCTION) -> AliasInfo | None:
        """Where alias ``name`` points, or None if it was never set."""
        return read_alias(self._alias_path(name), name)

    def set_alias(self, name: str, version: int) -> AliasInfo:
        """Point alias ``name`` at ``version``, which must exist and verify; the old target
        becomes ``previous``.

        Idempotent: setting an alias to where it already points changes nothing (``previous`` is kept).
        """
        with self._locked():
            current = self.alias(name)
            if current is not None and current.version == version:
                return current
            return self._write_alias(name, version, None if current is None else current.version)

    def promote(self, version: int, *, new_contract: bool = False) -> AliasInfo:
        """Make ``version`` production; if it was staging, staging is cleared (it has nothing left to prove).
        A version whose contract is not production's is refused (ContractMismatch) unless ``new_contract``."""
        if not new_contract:
            self.check_contract(self.contract(version), version=version)
        with self._locked():
            current = self.alias(PRODUCTION)
            if current is not None and current.version == version:
                info = current
            else:
                info = self._write_alias(PRODUCTION, version, None if current is None else current.version)
            staging = self.alias(STAGING)
            if staging is not None and staging.version == version:
                remove_alias(self._alias_path(STAGING))
                logger.info("alias=%s model=%s cleared: version %d is production", STAGING, self.model, version)
        return info

    def stage(self, version: int) -> AliasInfo:
        """Make ``version`` staging: workers score it beside production until it is promoted or discarded."""
        return self.set_alias(STAGING, version)

    def clear_alias(self, name: str) -> bool:
        """Remove alias ``name`` (e.g. a staging version that lost); False if it was not set."""
        with self._locked():
            removed = remove_alias(self._alias_path(name))
        if removed:
            logger.info("alias=%s model=%s cleared", name, self.model)
        return removed

    def rollback(self, name: str = PRODUCTION) -> AliasInfo:
        """Point ``name`` back at its ``previous`` version and clear ``previous``: a second rollback without a
        promotion in between is refused rather than re-promoting the version just rolled back."""
        with self._locked():
            current = self.alias(name)
            if current is None or current.previous is None:
                raise VersionNotFound(f"alias {name!r} of model {self.model!r} has no previous version")
            info = self._write_alias(name, current.previous, None)
        logger.warning(
            "rolled back alias=%s model=%s from=%d to=%d", name, self.model, current.version, info.version
        )
        return info

    def contract(self, version: int) -> Contract | None:
        """The data contract ``version`` was trained for (its ``contract.yaml``), or None if it carries none."""
        path = self.path(version) / CONTRACT_FILE
        return Contract.from_yaml(path) if path.exists() else None

    def lineage(self, version: int) -> Lineage | None:
        """Where ``version`` came from (driftline/registry/lineage.py), or None if it was registered without."""
        raw = self.manifest(version).metadata.get(LINEAGE_KEY)
        return None if raw is None else Lineage.from_json(raw, version)

    def check_contract(
        self, contract: Contract | None, *, new_contract: bool = False, version: int | None = None
    ) -> dict[str, Any] | None:
        """Refuse ``contract`` (of ``version``, or of one about to be registered) if it is not production's
        (driftline/registry/compatibility.py), with ContractMismatch naming the first difference, unless
        ``new_contract``: then return ``{"replaces": production's version, "difference": ...}``. None when it is
        production's contract, or there is no production or no contract to compare."""
        production = self.alias(PRODUCTION)
        if contract is None or production is None or production.version == version:
            return None
        current = self.contract(production.version)
        difference = None if current is None else contract_difference(current, contract)
        if difference is None:
            return None
        if not new_contract:
            what = "this model" if version is None else f"version {version}"
            raise ContractMismatch(
                f"{what} is for another data contract than production (version {production.version}): {difference}; "
                "if that is meant, say it is a new contract (--new-contract)"
            )
        logger.warning("model=%s: a new contract replaces version %d's: %s", self.model, production.version, difference)
        return {"replaces": production.version, "difference": difference}

    def _write_alias(self, name: str, version: int, previous: int | None) -> AliasInfo:
        """Write the alias (whole or not at all) once ``version`` verifies."""
        self.verify(version)  # refuses a missing (VersionNotFound) or altered (IntegrityError) version
        info = AliasInfo(name=name, version=int(version), previous=previous, set_at=self._clock())
        write_alias(self._alias_path(name), info)
        logger.info("alias=%s model=%s model_version=%d previous=%s", name, self.model, version, previous)
        return info

    def _info(self, version: int, alias: AliasInfo | None) -> VersionInfo:
        manifest = self.manifest(version)
        metrics_path = self.path(version) / "metrics.json"
        try:
            metrics = orjson.loads(metrics_path.read_bytes()) if metrics_path.exists() else {}
        except (OSError, orjson.JSONDecodeError) as exc:
            raise IntegrityError(f"version {version}: metrics.json is unreadable: {exc!r}") from exc
        return VersionInfo(
            version=manifest.version,
            created_at=manifest.created_at,
            fingerprint=manifest.fingerprint,
            metrics=metrics if isinstance(metrics, dict) else {},
            is_production=alias is not None and alias.version == manifest.version,
            path=metrics_path.parent,
        )

    def _version_numbers(self) -> list[int]:
        versions_dir = self.model_dir / "versions"
        if not versions_dir.is_dir():
            return []
        return sorted(
            int(p.name) for p in versions_dir.iterdir() if p.name.isdigit() and p.name == str(int(p.name))
        )

    def _alias_path(self, name: str) -> Path:
        return self.model_dir / "aliases" / f"{check_name(name, 'alias name')}.json"

    def _locked(self) -> contextlib.AbstractContextManager[None]:
        return locked(self.model_dir, self._lock_timeout)
