"""One way to name a source, for every command: a built-in scenario, or a file with its contract."""

from __future__ import annotations

import argparse
from pathlib import Path

from driftline.contract import Contract
from driftline.entrypoint import fraction, non_negative_int
from driftline.errors import ConfigError
from driftline.sources.agrawal import AgrawalSource
from driftline.sources.base import Source

SCENARIOS = ("agrawal", "digits")


def open_source(
    *,
    data: Path | None = None,
    contract: Path | None = None,
    scenario: str | None = None,
    seed: int = 7,
    function: int | None = None,
    noise: float | None = None,
    drift: str | None = None,
    n_records: int | None = None,
) -> Source:
    """A built-in scenario (``agrawal`` by default, or ``digits``), or ``data`` (CSV/Parquet) described by the
    ``contract`` YAML. ``function`` and ``noise`` are Agrawal's (defaults 1 and 0.05)."""
    if data is None:
        if contract is not None:
            raise ConfigError(
                "--contract describes a --data file; the built-in scenario has its own contract"
            )
        name = scenario or "agrawal"
        if name == "agrawal":
            return AgrawalSource(seed=seed, function=1 if function is None else function,
                                 noise=0.05 if noise is None else noise, drift=drift, n_records=n_records)  # fmt: skip
        if name == "digits":
            given = [flag for flag, value in (("--function", function), ("--noise", noise)) if value is not None]
            if given:
                raise ConfigError(f"{' and '.join(given)} apply to the agrawal scenario only, not to digits")
            from driftline.sources.digits import DigitsSource

            return DigitsSource(seed=seed, drift=drift, n_records=n_records)
        raise ConfigError(f"no scenario {name!r}; known: {list(SCENARIOS)}")
    if contract is None:
        raise ConfigError(f"--data {data} needs --contract FILE.yaml to say what its columns are")
    if scenario is not None:
        raise ConfigError(f"--scenario {scenario} names a built-in stream; --data replays a file instead")
    if drift:
        raise ConfigError("--drift applies to the built-in scenario, not to a replayed file")
    from driftline.sources.files import FileSource

    return FileSource(data, Contract.from_yaml(contract))


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that name a source, the same for `driftline produce` and `driftline train`."""
    group = parser.add_argument_group("source (default: the built-in Agrawal scenario)")
    group.add_argument("--scenario", choices=SCENARIOS,
                       help="the built-in stream: agrawal (loan applications, the default) or digits "
                            "(handwritten digits, 28x28 PNG)")  # fmt: skip
    group.add_argument("--data", type=Path, help="a CSV or Parquet file to replay instead of the scenario")
    group.add_argument("--contract", type=Path, help="the data contract (YAML) of --data")
    group.add_argument("--seed", type=non_negative_int, default=7, help="scenario seed")
    group.add_argument("--function", type=int, help="agrawal only: classification function 1..10 (default 1)")
    group.add_argument("--noise", type=fraction, help="agrawal only: label noise probability (default 0.05)")
    group.add_argument("--drift", help="scenario drift, e.g. 'covariate:salary@20000;concept:function=3@50000' "
                                       "(agrawal) or 'rotation:45@5000;noise:60@8000..9000' (digits)")  # fmt: skip


def source_from_arguments(args: argparse.Namespace) -> Source:
    """The source named by ``add_source_arguments``' options; a bad one is a ConfigError."""
    try:
        return open_source(data=args.data, contract=args.contract, scenario=args.scenario, seed=args.seed,
                           function=args.function, noise=args.noise, drift=args.drift)  # fmt: skip
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
