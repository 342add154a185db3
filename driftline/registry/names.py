"""What the registry accepts as a model, alias or file name, and the file names it reserves."""

from __future__ import annotations

import re

from driftline.errors import IntegrityError, RegistryError
from driftline.modelio import refuse_unsafe_name
from driftline.signing import SIGNATURE_FILE

MODEL_FILE = "model.keras"
MANIFEST_FILE = "manifest.json"
CONTRACT_FILE = "contract.yaml"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def check_name(name: str, what: str) -> str:
    """``name`` if it is a safe path component (letters, digits, ``.``, ``_``, ``-``), else RegistryError."""
    if not _NAME.match(name):
        raise RegistryError(
            f"{what} {name!r}: expected letters, digits, '.', '_', '-', starting alphanumeric"
        )
    return name


def check_file_name(name: str) -> None:
    """Refuse a version file name that is unsafe, of a refused kind, or the registry's own manifest."""
    check_name(name, "file name")
    refuse_unsafe_name(name)
    if name in (MANIFEST_FILE, SIGNATURE_FILE):
        raise IntegrityError(f"{name} is written by the registry; do not pass it in")
