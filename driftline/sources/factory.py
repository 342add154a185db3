"""One way to name a source, for every command: the built-in scenario, or a file with its contract."""

from __future__ import annotations

import argparse
from pathlib import Path

from driftline.contract import Contract
from driftline.entrypoint import fraction, non_negative_int
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


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that name a source, the same for `driftline produce` and `driftline train`."""
    group = parser.add_argument_group("source (default: the built-in Agrawal scenario)")
    group.add_argument("--data", type=Path, help="a CSV or Parquet file to replay instead of the scenario")
    group.add_argument("--contract", type=Path, help="the data contract (YAML) of --data")
    group.add_argument("--seed", type=non_negative_int, default=7, help="scenario seed")
    group.add_argument("--function", type=int, default=1, help="Agrawal classification function 1..10")
    group.add_argument("--noise", type=fraction, default=0.05, help="label noise probability")
    group.add_argument("--drift", help="scenario drift, e.g. 'covariate:salary@20000;concept:function=3@50000'")


def source_from_arguments(args: argparse.Namespace) -> Source:
    """The source named by ``add_source_arguments``' options; a bad one is a ConfigError."""
    try:
        return open_source(data=args.data, contract=args.contract, seed=args.seed, function=args.function,
                           noise=args.noise, drift=args.drift)  # fmt: skip
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
