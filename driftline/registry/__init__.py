"""The model registry: numbered versions and aliases on a (shared) filesystem (DESIGN section 4)."""

from __future__ import annotations

from driftline.registry.alias import PRODUCTION, STAGING, AliasInfo
from driftline.registry.manifest import Manifest, VersionInfo, fingerprint_of
from driftline.registry.names import MODEL_FILE
from driftline.registry.store import Registry

__all__ = ["MODEL_FILE", "PRODUCTION", "STAGING", "AliasInfo", "Manifest", "Registry", "VersionInfo", "fingerprint_of"]
