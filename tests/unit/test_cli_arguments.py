"""Every bad command-line argument is a one-line error that names it (argparse's exit code 2), never a traceback."""

from __future__ import annotations

import argparse
from collections.abc import Callable

import pytest

import demo.cli
import monitoring.cli
import processors.cli
import producers.cli
import stack.cli
import trainer.cli
from driftline.entrypoint import fraction, positive_float, positive_int, positive_ints

BAD: list[tuple[Callable[[], argparse.ArgumentParser], list[str], str]] = [
    (trainer.cli.build_parser, ["train", "--layers", "64,abc"], "argument --layers: expected comma-separated"),
    (trainer.cli.build_parser, ["train", "--layers", "0"], "argument --layers"),
    (trainer.cli.build_parser, ["train", "--epochs", "0"], "argument --epochs: expected a number >= 1, found 0"),
    (trainer.cli.build_parser, ["train", "--rows", "1.5"], "argument --rows: expected a whole number, found '1.5'"),
    (trainer.cli.build_parser, ["train", "--noise", "3"], "argument --noise: expected a number >= 0 and <= 1"),
    (producers.cli.build_parser, ["--rate", "-1"], "argument --rate: expected a number > 0, found -1"),
    (producers.cli.build_parser, ["--rate", "nan"], "argument --rate: expected a number > 0, found nan"),
    (producers.cli.build_parser, ["-n", "0"], "argument -n/--count"),
    (producers.cli.build_parser, ["--bad-ratio", "2"], "argument --bad-ratio"),
    (producers.cli.build_parser, ["--label-delay", "-3"], "argument --label-delay"),
    (producers.cli.build_parser, ["--cpu", "-1"], "argument --cpu"),
    (processors.cli.build_parser, ["run", "--workers", "0"], "argument -w/--workers"),
    (monitoring.cli.build_parser, ["report", "--minutes", "-1"], "argument --minutes"),
    (stack.cli.build_parser, ["logs", "-n", "0"], "argument -n/--lines"),
    (demo.cli.build_parser, ["--workers", "0"], "argument --workers"),
]


@pytest.mark.parametrize(("parser", "argv", "says"), BAD, ids=[" ".join(argv) for _, argv, _ in BAD])
def test_a_bad_argument_is_one_line_naming_it(parser: Callable[[], argparse.ArgumentParser], argv: list[str],
                                             says: str, capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    with pytest.raises(SystemExit) as exit_:
        parser().parse_args(argv)
    assert exit_.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]  # argparse prints its usage line above it
    assert says in error, error


def test_good_values_pass() -> None:
    assert positive_int("3") == 3 and positive_float("0.5") == 0.5 and fraction("1") == 1.0
    assert positive_ints("64, 32") == (64, 32)
