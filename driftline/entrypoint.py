"""What every entry point does the same way: a parser with ``-v``, logging set up once, the settings built once,
and errors turned into one line and an exit code (2 bad settings, 1 a Driftline error, 130 interrupted)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from pydantic import ValidationError

from driftline.errors import DriftlineError
from driftline.settings import Settings

Handler = Callable[[argparse.Namespace, Settings], int]


def command_parser(prog: str, description: str | None = None) -> argparse.ArgumentParser:
    """A parser with the ``-v/--verbose`` flag every command takes; subcommands ``set_defaults(handler=...)``."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # kafka-python logs every refused connection at ERROR while a broker starts; our probes report instead.
    logging.getLogger("kafka").setLevel(logging.CRITICAL)


def run_command(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, build the settings and run the chosen handler; returns the process's exit code."""
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"{parser.prog}: invalid settings:\n{exc}", file=sys.stderr)
        return 2
    handler: Handler = args.handler
    try:
        return handler(args, settings)
    except DriftlineError as exc:
        print(f"{parser.prog}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        return 130
