"""Driftline's core library: what the producers, processors and trainer share.

The public surface is ``__all__``; each name is imported on first use (PEP 562), so that ``import driftline``
(and any ``driftline.<module>`` import) stays cheap and never loads pandas, Keras or a Kafka client by itself.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# name → the module that defines it
_EXPORTS = {
    "Settings": "driftline.settings",
    "Contract": "driftline.contract",
    "Validator": "driftline.validation",
    "Preprocessor": "driftline.preprocessing",
    "Profile": "driftline.profile",
    "DriftWindow": "driftline.drift",
    "psi": "driftline.drift",
    "Registry": "driftline.registry",
    "ModelBundle": "driftline.bundle",
    "Topics": "driftline.topics",
    "open_source": "driftline.sources.factory",
    "AgrawalSource": "driftline.sources",
    "FileSource": "driftline.sources",
    "DriftlineError": "driftline.errors",
}

__all__ = [
    "AgrawalSource",
    "Contract",
    "DriftWindow",
    "DriftlineError",
    "FileSource",
    "ModelBundle",
    "Preprocessor",
    "Profile",
    "Registry",
    "Settings",
    "Topics",
    "Validator",
    "open_source",
    "psi",
]
assert set(__all__) == set(_EXPORTS)

if TYPE_CHECKING:
    from driftline.bundle import ModelBundle
    from driftline.contract import Contract
    from driftline.drift import DriftWindow, psi
    from driftline.errors import DriftlineError
    from driftline.preprocessing import Preprocessor
    from driftline.profile import Profile
    from driftline.registry import Registry
    from driftline.settings import Settings
    from driftline.sources import AgrawalSource, FileSource
    from driftline.sources.factory import open_source
    from driftline.topics import Topics
    from driftline.validation import Validator


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'driftline' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
