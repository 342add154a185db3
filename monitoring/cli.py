"""`python -m monitoring report` (`driftline report`): an HTML report of the last minutes, plotted from Prometheus."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from driftline.entrypoint import command_parser, positive_float, run_command
from driftline.errors import ConfigError
from driftline.registry import Registry
from driftline.settings import Settings


def _report(args: argparse.Namespace, settings: Settings) -> int:
    from monitoring.report import Prometheus, write_report

    url = args.prometheus or f"http://127.0.0.1:{settings.stack.prometheus_port}"
    registry = Registry(settings.registry.root, settings.registry.model_name)
    events: list[tuple[float, str]] = []
    if args.events is not None:
        try:
            events = [(float(e["time"]), str(e["label"])) for e in json.loads(Path(args.events).read_text())]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"--events {args.events}: expected a JSON list of {{time, label}}: {exc}") from exc
    index = write_report(Prometheus(url), registry, Path(args.out), minutes=args.minutes, events=events)
    print(f"report: {index}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser("python -m monitoring", "monitoring tools")
    commands = parser.add_subparsers(dest="command", required=True)
    report = commands.add_parser("report", help="an HTML report of the last minutes, plotted from Prometheus")
    report.add_argument("--minutes", type=positive_float, default=30.0)
    report.add_argument("--out", default=".driftline/report")
    report.add_argument("--prometheus", help="Prometheus URL (default: the local stack's)")
    report.add_argument("--events", help="a JSON list of {time (epoch s), label} to mark on every plot")
    report.set_defaults(handler=_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(build_parser(), argv)
