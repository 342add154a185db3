"""What every entry point does the same way: a parser with ``-v``, logging set up once, the settings built once,
and errors turned into one line and an exit code (2 bad settings, 1 a Driftline error, 130 interrupted)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import ValidationError

from driftline.errors import DriftlineError
from driftline.log_limit import limit_repeats
from driftline.logs import formatter_for
from driftline.settings import Settings
from driftline.tf_noise import quiet_tensorflow

Handler = Callable[[argparse.Namespace, Settings], int]


async def until_stopped() -> None:
    """Return once the process is asked to stop (SIGTERM or SIGINT): a long-running server's main wait."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def command_parser(prog: str, description: str | None = None) -> argparse.ArgumentParser:
    """A parser with the ``-v/--verbose`` flag every command takes; subcommands ``set_defaults(handler=...)``."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def _number(text: str, kind: type[int] | type[float], lowest: float, *, above: bool = False,
            highest: float | None = None) -> Any:  # fmt: skip
    try:
        value = kind(text)
    except ValueError:
        whole = "whole " if kind is int else ""
        raise argparse.ArgumentTypeError(f"expected a {whole}number, found {text!r}") from None
    if value != value or (value <= lowest if above else value < lowest) or (highest is not None and value > highest):
        bounds = f"{'>' if above else '>='} {lowest:g}" + (f" and <= {highest:g}" if highest is not None else "")
        raise argparse.ArgumentTypeError(f"expected a number {bounds}, found {text}")
    return value


def positive_int(text: str) -> int:
    """argparse types: argparse turns their refusal into a one-line error naming the argument."""
    return int(_number(text, int, 1))


def non_negative_int(text: str) -> int:
    return int(_number(text, int, 0))


def positive_float(text: str) -> float:
    return float(_number(text, float, 0.0, above=True))


def non_negative_float(text: str) -> float:
    return float(_number(text, float, 0.0))


def fraction(text: str) -> float:
    """A share or probability, in [0, 1]."""
    return float(_number(text, float, 0.0, highest=1.0))


def positive_ints(text: str) -> tuple[int, ...]:
    """Comma-separated integers >= 1, e.g. ``64,32``."""
    try:
        return tuple(positive_int(part.strip()) for part in text.split(","))
    except argparse.ArgumentTypeError:
        expected = "expected comma-separated numbers >= 1 (e.g. 64,32)"
        raise argparse.ArgumentTypeError(f"{expected}, found {text!r}") from None


def configure_logging(verbose: bool, settings: Settings | None = None) -> None:
    """The one logging setup of every process: ``settings.log_format`` (text or JSON lines) on stderr at
    ``settings.log_level`` (DEBUG with ``-v``); TensorFlow's start-up chatter quieted unless ``-v``."""
    if not verbose:
        quiet_tensorflow(os.environ)  # before anything imports TensorFlow (workers started from here inherit it)
    before = list(logging.root.handlers)  # basicConfig adds a handler only when there is none (not under pytest)
    handler = logging.StreamHandler()
    handler.setFormatter(formatter_for(settings.log_format if settings else "text"))
    logging.basicConfig(
        level=logging.DEBUG if verbose else (settings.log_level if settings else logging.INFO), handlers=[handler]
    )
    # kafka-python logs every refused connection at ERROR while a broker starts; our probes report instead.
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    # an outage's reconnect warnings: one per kind every 10 s, on the handler set up here
    limit_repeats([handler for handler in logging.root.handlers if handler not in before])


def run_command(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, build the settings, set up logging and run the chosen handler; returns the exit code."""
    args = parser.parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"{parser.prog}: invalid settings:\n{exc}", file=sys.stderr)
        return 2
    configure_logging(args.verbose, settings)
    handler: Handler = args.handler
    try:
        return handler(args, settings)
    except DriftlineError as exc:
        print(f"{parser.prog}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        return 130
