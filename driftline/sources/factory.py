"""One way to name a source, for every command: the built-in scenario, or a file with its contract."""

from __future__ import annotations

from pathlib import Path

from driftline.contract import Contract
from driftline.errors import ConfigError
from driftline.sources.agrawal import AgrawalSource
from driftline.sources.base import Source


def open_source(
    *,
    data: Path | None = None,
    contract: Path | None = None,
    seed: int = 7,
    function: int = 1,
    noise: float = 0.05,
    drift: str | None = None,
    n_records: int | None = None,
) -> Source:
    """The Agrawal scenario (default), or ``data`` (CSV/Parquet) described by the ``contract`` YAML."""
    if data is None:
        if contract is not None:
            raise ConfigError(
                "--contract describes a --data file; the built-in scenario has its own contract"
            )
        return AgrawalSource(seed=seed, function=function, noise=noise, drift=drift, n_records=n_records)
    if contract is None:
        raise ConfigError(f"--data {data} needs --contract FILE.yaml to say what its columns are")
    if drift:
        raise ConfigError("--drift applies to the built-in scenario, not to a replayed file")
    from driftline.sources.files import FileSource

    return FileSource(data, Contract.from_yaml(contract))
