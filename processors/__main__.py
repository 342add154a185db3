"""`python -m processors worker [--index I]` runs one worker; `driftline process --workers N` runs several."""

from __future__ import annotations

import argparse
import sys

from pydantic import ValidationError

from driftline.settings import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m processors")
    commands = parser.add_subparsers(dest="command", required=True)
    worker = commands.add_parser("worker", help="run one processor worker")
    worker.add_argument("--index", type=int, default=0, help="worker index: /metrics on port base + index")
    args = parser.parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"processors: invalid settings:\n{exc}", file=sys.stderr)
        return 2
    from processors.worker import run_worker

    run_worker(settings, args.index)
    return 0


if __name__ == "__main__":
    sys.exit(main())
