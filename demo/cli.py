"""`python -m demo` (`driftline demo`): stack up, train, serve, stream with drift, watch the loop heal."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from demo.run import SCENARIOS
from driftline.entrypoint import command_parser, non_negative_float, positive_float, positive_int, run_command
from driftline.settings import Settings


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from rich.console import Console

    from demo.run import Demo, DemoOptions

    options = DemoOptions(scenario=args.scenario, rate=args.rate, stationary_seconds=args.stationary,
                          timeout_seconds=args.timeout, drift=args.drift_kind, workers=args.workers,
                          keep_stack=args.keep_stack, settle_seconds=args.settle)  # fmt: skip
    return Demo(settings, options, Console()).run()


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser("driftline demo", "the whole loop on the built-in scenario, watched live")
    parser.add_argument(
        "--scenario",
        choices=sorted(SCENARIOS),
        default="agrawal",
        help="agrawal: tabular loan applications (default); digits: 28x28 handwritten digits, a CNN",
    )
    parser.add_argument("--rate", type=positive_float, help="records per second (default: agrawal 2000, digits 400)")
    parser.add_argument("--stationary", type=non_negative_float, default=90.0,
                        help="seconds of stationary stream before drift")  # fmt: skip
    parser.add_argument("--timeout", type=positive_float, default=600.0, help="give up after this many seconds")
    parser.add_argument(
        "--drift-kind",
        help="drift specs switched on after --stationary seconds, without @START "
        "(default: agrawal 'covariate:salary:scale=1.8;concept:function=2', digits 'inversion')",
    )
    parser.add_argument(
        "--settle",
        type=non_negative_float,
        default=60.0,
        help="seconds of stream after the last swap before the settled accuracy is read",
    )
    parser.add_argument("--workers", type=positive_int, default=2)
    parser.add_argument("--keep-stack", action="store_true", help="leave the stack running afterwards")
    parser.set_defaults(handler=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(build_parser(), argv)
