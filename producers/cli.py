"""`python -m producers` (`driftline produce`): stream a source's records, and later their labels, into Kafka."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from driftline.entrypoint import (
    command_parser,
    fraction,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    run_command,
)
from driftline.settings import Settings
from driftline.sources.factory import add_source_arguments, source_from_arguments


def _produce(args: argparse.Namespace, settings: Settings) -> int:
    from producers.console import produce
    from producers.producer import ProduceOptions

    options = ProduceOptions(
        count=args.count,
        rate=args.rate,
        label_delay_seconds=args.label_delay,
        send_labels=not args.no_labels,
        bad_ratio=args.bad_ratio,
        keep_event_time=args.keep_event_time,
        seed=args.seed,
    )
    if args.cpu is not None:  # the whole command, librdkafka's threads included (they start after this)
        from driftline.affinity import pin_process

        pin_process(args.cpu)
    produce(settings, source_from_arguments(args), options, quiet=args.quiet)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser("driftline produce", "stream records (and later their labels) into Kafka")
    add_source_arguments(parser)
    parser.add_argument("-n", "--count", type=positive_int,
                        help="how many records (default: the whole source; forever)")  # fmt: skip
    parser.add_argument("--rate", type=positive_float, help="records per second (default: as fast as possible)")
    parser.add_argument("--label-delay", type=non_negative_float, default=0.0,
                        help="seconds before a record's label is sent")  # fmt: skip
    parser.add_argument("--no-labels", action="store_true", help="send records only")
    parser.add_argument("--bad-ratio", type=fraction, default=0.0, help="fraction of malformed records to mix in")
    parser.add_argument("--keep-event-time", action="store_true",
                        help="keep the source's event time (default: stamp the send time)")  # fmt: skip
    parser.add_argument("--cpu", type=non_negative_int,
                        help="pin the producer to this CPU (Linux; see docs/architecture.md)")  # fmt: skip
    parser.add_argument("-q", "--quiet", action="store_true")
    parser.set_defaults(handler=_produce)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(build_parser(), argv)
