"""`python -m stack` (`driftline stack`): up, down, status and logs of the local stack."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from driftline.entrypoint import command_parser, positive_int, run_command
from driftline.settings import Settings
from stack.launcher import ServiceStatus, Stack


def _quiet(message: str) -> None:
    """Progress sink for --quiet."""


def _stack(args: argparse.Namespace, settings: Settings) -> Stack:
    update: dict[str, object] = {}
    if getattr(args, "brokers", None) is not None:
        update["kafka_brokers"] = args.brokers
    if getattr(args, "redis_cluster", False):
        update["redis_cluster"] = True
    if getattr(args, "secure", False):
        update["secure"] = True
    if update:
        settings = settings.model_copy(update={"stack": settings.stack.model_copy(update=update)})
    return Stack(settings, progress=_quiet if getattr(args, "quiet", False) else print)


def _up(args: argparse.Namespace, settings: Settings) -> int:
    stack = _stack(args, settings)
    rows = stack.up()
    if not args.quiet:
        _print_status(rows)
        if stack.brokers > 1:
            print(f"Kafka runs as {stack.brokers} brokers; point every Driftline process at all of them:\n"
                  f"  export DRIFTLINE_KAFKA__BOOTSTRAP_SERVERS={stack.bootstrap_servers}\n"
                  f"  export DRIFTLINE_KAFKA__REPLICATION_FACTOR={min(3, stack.brokers)}")  # fmt: skip
        if stack.redis_clustered:
            print(f"Redis runs as a cluster of {len(stack.redis_nodes)} nodes; tell every Driftline process:\n"
                  f"  export DRIFTLINE_REDIS__CLUSTER=true\n"
                  f"  export DRIFTLINE_REDIS__URL={'rediss' if stack.secure else 'redis'}://"
                  f"{stack.redis_nodes[0].address}/0\n"
                  f"  export DRIFTLINE_REDIS__REPLICA_ACKS=1   # a primary's failover then loses no prediction")
        if stack.secure:
            shown = "".join(f"  export {key}={'(secret, in the file)' if 'PASSWORD' in key else value}\n"
                            for key, value in stack.client_env().items())  # fmt: skip
            print(f"The stack is secured (Kafka SASL_SSL, Redis ACL and TLS); every Driftline process needs:\n{shown}"
                  f"all of them, passwords too, are in {stack.env_file}:\n  source {stack.env_file}")
    return 0


def _down(args: argparse.Namespace, settings: Settings) -> int:
    stopped = _stack(args, settings).down()
    if not args.quiet:
        print(f"stopped: {', '.join(stopped) if stopped else 'nothing (no service of ours was running)'}")
    return 0


def _status(args: argparse.Namespace, settings: Settings) -> int:
    rows = Stack(settings).status()
    if not args.quiet:
        _print_status(rows)
    return 0 if all(r.healthy for r in rows) else 1


def _logs(args: argparse.Namespace, settings: Settings) -> int:
    print(Stack(settings).logs(args.service, lines=args.lines))
    return 0


def _print_status(rows: Sequence[ServiceStatus]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("service", "pid", "port", "healthy", "version", "owner", "detail")
    for row in rows:
        table.add_row(row.name, str(row.pid or "-"), str(row.port), "yes" if row.healthy else "no",
                      row.version or "-", row.owner, row.detail)  # fmt: skip
    Console().print(table)


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser("driftline stack", "the local Kafka/Redis/Prometheus/Alertmanager stack")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, handler, help_text in (
        ("up", _up, "start what is missing, wait until healthy"),
        ("down", _down, "stop what `up` started"),
        ("status", _status, "one line per service; exit 1 unless all are healthy"),
    ):
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("-q", "--quiet", action="store_true")
        sub.set_defaults(handler=handler)
        if name == "up":
            sub.add_argument("--brokers", type=positive_int,
                             help="Kafka nodes (default: stack.kafka_brokers, 1); 3 for a KRaft cluster")  # fmt: skip
            sub.add_argument("--redis-cluster", action="store_true",
                             help="Redis as a cluster of 3 primaries and 3 replicas (default: stack.redis_cluster)")
            sub.add_argument("--secure", action="store_true",
                             help="Kafka on SASL_SSL (SCRAM-SHA-512), Redis with an ACL user and TLS, under a CA made "
                             "here; the client settings go to <data_dir>/secure.env (default: stack.secure)")
    logs = commands.add_parser("logs", help="the last lines of a service's log")
    logs.add_argument("service", nargs="?", help="kafka (kafka-1, kafka-2, ... in a cluster), redis (redis-1 .. "
                      "redis-6 in a cluster), prometheus or alertmanager; default: all")  # fmt: skip
    logs.add_argument("-n", "--lines", type=positive_int, default=50)
    logs.set_defaults(handler=_logs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(build_parser(), argv)
