"""`python -m processors` (`driftline process`): ``worker --index I`` runs one worker in this process;
``run --workers N`` runs N of them as child processes and restarts any that crash; ``serve`` (`driftline serve`)
scores records over HTTP with the same model slot; ``replay`` (`driftline replay`) scores a range of the records
topic again with the versions that served it and reports any prediction it does not reproduce."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from driftline.entrypoint import command_parser, non_negative_int, positive_int, run_command
from driftline.settings import Settings


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    from processors.worker import run_worker

    run_worker(settings, args.index)
    return 0


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from processors.serve import run_serve

    run_serve(settings)
    return 0


def replay_bound(text: str) -> int | datetime:
    """An offset (a whole number >= 0) or a time (ISO-8601 with a zone)."""
    if text.isdigit():
        return int(text)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise argparse.ArgumentTypeError(f"expected an offset or an ISO-8601 time with a zone, found {text!r}")
    return when


def _partition_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(non_negative_int(part.strip()) for part in text.split(","))
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected comma-separated partitions (e.g. 0,3), found {text!r}") from None


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    from driftline.registry import Registry
    from processors.replay import ReplayRange, replay

    registry = Registry.from_settings(settings, sign=False)
    report = replay(settings, ReplayRange(args.partitions, args.start, args.end), registry)
    print(report.render(args.show))
    return 1 if report.mismatched else 0


def _score(args: argparse.Namespace, settings: Settings) -> int:
    from driftline.bundle import ModelBundle
    from driftline.registry import Registry
    from driftline.tf_noise import native_output_filtered
    from processors.score_files import FileError, as_json_lines, render, score_files

    if not args.verbose:  # the answer is the output: the loader's info lines only with -v
        logging.getLogger("driftline").setLevel(logging.WARNING)
    registry = Registry.from_settings(settings, sign=False)
    with native_output_filtered():  # LiteRT's "Created TensorFlow Lite XNNPACK delegate" line
        bundle = (ModelBundle.load(registry, args.version, warm_up=False) if args.version is not None
                  else ModelBundle.load_production(registry, warm_up=False))  # fmt: skip
        results = score_files(bundle, args.files)
    print(as_json_lines(results) if args.json else render(results, top=args.top))
    return 1 if any(isinstance(r, FileError) for r in results) else 0


def _run(args: argparse.Namespace, settings: Settings) -> int:
    if args.workers == 1 and args.index is not None:
        return _worker(args, settings)
    from driftline.kafka_clients import check_kafka
    from driftline.redis_clients import check_redis
    from processors.supervisor import Supervisor

    # settings Kafka or Redis refuse: one line here, not the same line from every worker it would restart forever
    check_kafka(settings.kafka)
    check_redis(settings.redis)
    return Supervisor(args.workers).run()


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser("python -m processors", "the processor workers (one consumer group)")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run processor workers, restarted if they crash")
    run.add_argument("-w", "--workers", type=positive_int, default=1, help="worker processes")
    run.add_argument("--index", type=non_negative_int, help="run a single worker with this index, in this process")
    run.set_defaults(handler=_run)
    worker = commands.add_parser("worker", help="run one worker in this process")
    worker.add_argument("--index", type=non_negative_int, default=0, help="worker index: /metrics on port base + index")
    worker.set_defaults(handler=_worker)
    serve = commands.add_parser("serve", help="HTTP scoring: POST /v1/predict (settings: serve.*)")
    serve.set_defaults(handler=_serve)
    replay = commands.add_parser("replay", help="score a range of the records topic again with the versions that "
                                 "served it; exit 1 if a recorded prediction is not reproduced")  # fmt: skip
    replay.add_argument("--from", dest="start", type=replay_bound, help="first offset, or a time (ISO-8601 with a "
                        "zone: the records' Kafka timestamps); default: the start of each partition")  # fmt: skip
    replay.add_argument("--to", dest="end", type=replay_bound, help="end offset (exclusive), or a time; default: the "
                        "end of each partition")  # fmt: skip
    replay.add_argument("--partitions", type=_partition_list, help="comma-separated partitions (default: all)")
    replay.add_argument("--show", type=non_negative_int, default=5, help="mismatches and missing records listed")
    replay.set_defaults(handler=_replay)
    score = commands.add_parser("score", help="image files → class and probabilities with the production model; "
                                "exit 1 if any file is refused")  # fmt: skip
    score.add_argument("files", nargs="+", type=Path, help="PNG files")
    score.add_argument("--version", type=positive_int, help="score with this version instead of production")
    score.add_argument("--top", type=positive_int, default=3, help="most probable classes shown per file")
    score.add_argument("--json", action="store_true", help="one JSON object per line")
    score.set_defaults(handler=_score)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(build_parser(), argv)
