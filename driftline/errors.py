"""Driftline's exceptions, under one root.

    DriftlineError
    ├── ConfigError            settings or a contract file that cannot be used
    ├── StackError             the local stack cannot start, stop or be reached
    ├── ContractError          a data contract is invalid
    ├── DataError              a data source or training frame does not fit its contract
    ├── PreprocessingError     a preprocessor cannot be fitted, saved, loaded or applied
    └── RegistryError          a model version cannot be written or read
        ├── VersionNotFound    no such version or alias
        ├── ContractMismatch   a version's data contract is not production's (and was not declared a new one)
        └── IntegrityError     a file is missing, altered, or of a refused kind (.h5, pickle, Lambda layer)
            └── SignatureError a version is unsigned, or not signed by the trusted key

Messages say what was expected and what was found.
"""

from __future__ import annotations


class DriftlineError(Exception):
    """Root of every error Driftline raises on purpose."""


class ConfigError(DriftlineError):
    """Settings or a configuration file that cannot be used."""


class StackError(DriftlineError):
    """The local stack cannot start, stop or be reached."""


class ContractError(DriftlineError):
    """A data contract is invalid."""


class DataError(DriftlineError):
    """A data source or training frame does not fit its contract."""


class PreprocessingError(DriftlineError):
    """A preprocessor cannot be fitted, saved, loaded or applied."""


class RegistryError(DriftlineError):
    """A model version cannot be written or read."""


class VersionNotFound(RegistryError):
    """No such model, version or alias."""


class ContractMismatch(RegistryError):
    """A version's data contract differs from production's, and it was not declared a new contract."""


class IntegrityError(RegistryError):
    """An artifact is missing, altered, or of a kind that is refused."""


class SignatureError(IntegrityError):
    """A version is unsigned, signed by another key, or its manifest changed after signing."""
