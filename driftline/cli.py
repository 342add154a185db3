"""The `driftline` command. The one place in `driftline/` that calls into the services, always lazily."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from driftline.errors import ConfigError, DriftlineError
from driftline.settings import Settings

if TYPE_CHECKING:
    from driftline.stack import ServiceStatus

logger = logging.getLogger("driftline")

Handler = Callable[[argparse.Namespace, Settings], int]


def _quiet(message: str) -> None:
    """Progress sink for --quiet."""


def _stack_up(args: argparse.Namespace, settings: Settings) -> int:
    from driftline.stack import Stack

    stack = Stack(settings, progress=_quiet if args.quiet else print)
    rows = stack.up()
    if not args.quiet:
        _print_status(rows)
    return 0


def _stack_down(args: argparse.Namespace, settings: Settings) -> int:
    from driftline.stack import Stack

    stopped = Stack(settings, progress=_quiet if args.quiet else print).down()
    if not args.quiet:
        print(f"stopped: {', '.join(stopped) if stopped else 'nothing (no service of ours was running)'}")
    return 0


def _stack_status(args: argparse.Namespace, settings: Settings) -> int:
    from driftline.stack import Stack

    rows = Stack(settings).status()
    if not args.quiet:
        _print_status(rows)
    return 0 if all(r.healthy for r in rows) else 1


def _print_status(rows: Sequence[ServiceStatus]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("service", "pid", "port", "healthy", "version", "owner", "detail")
    for row in rows:
        table.add_row(
            row.name,
            str(row.pid or "-"),
            str(row.port),
            "yes" if row.healthy else "no",
            row.version or "-",
            row.owner,
            row.detail,
        )
    Console().print(table)


def _stack_logs(args: argparse.Namespace, settings: Settings) -> int:
    from driftline.stack import Stack

    print(Stack(settings).logs(args.service, lines=args.lines))
    return 0


def _topics_create(args: argparse.Namespace, settings: Settings) -> int:
    from driftline.kafka_admin import ensure_topics

    for outcome in ensure_topics(settings.kafka):
        if not args.quiet:
            print(f"{outcome.name:40s} partitions={outcome.partitions:<3d} {outcome.outcome}")
    return 0


def _add_source_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("source (default: the built-in Agrawal scenario)")
    group.add_argument("--data", type=Path, help="a CSV or Parquet file to replay instead of the scenario")
    group.add_argument("--contract", type=Path, help="the data contract (YAML) of --data")
    group.add_argument("--seed", type=int, default=7, help="scenario seed")
    group.add_argument("--function", type=int, default=1, help="Agrawal classification function 1..10")
    group.add_argument("--noise", type=float, default=0.05, help="label noise probability")
    group.add_argument("--drift", help="scenario drift, e.g. 'covariate:salary@20000;concept:function=3@50000'")


def _source(args: argparse.Namespace, n_records: int | None = None):
    from driftline.sources.factory import open_source

    try:
        return open_source(
            data=args.data, contract=args.contract, seed=args.seed, function=args.function, noise=args.noise,
            drift=args.drift, n_records=n_records,
        )  # fmt: skip
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


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
    produce(settings, _source(args), options, quiet=args.quiet)
    return 0


def _process(args: argparse.Namespace, settings: Settings) -> int:
    if args.workers == 1 and args.index is not None:
        from processors.worker import run_worker

        run_worker(settings, args.index)
        return 0
    from processors.supervisor import Supervisor

    return Supervisor(args.workers).run()


def _trainer_serve(args: argparse.Namespace, settings: Settings) -> int:
    from trainer.app import serve

    serve(settings)
    return 0


def _retrain(args: argparse.Namespace, settings: Settings) -> int:
    from trainer.app import build_retrain, registry_of

    result = build_retrain(settings, registry_of(settings))(args.reason)
    print(f"retrain {result.outcome}: {result.reason} ({result.rows:,} recent labeled rows, {result.seconds:.0f}s)")
    return 0 if result.outcome in ("promoted", "rejected", "skipped") else 1


def _registry(settings: Settings):
    from driftline.registry import Registry

    return Registry(settings.registry.root, settings.registry.model_name)


def _train(args: argparse.Namespace, settings: Settings) -> int:
    from rich.console import Console
    from rich.table import Table

    from driftline.sources import to_frame
    from trainer.release import register_candidate
    from trainer.training import TrainConfig, fit_candidate

    source = _source(args)
    frame = to_frame(source.records(), source.contract) if args.data else source.frame(args.rows)
    config = TrainConfig(
        hidden_layers=tuple(int(u) for u in args.layers.split(",")), max_epochs=args.epochs, seed=args.seed
    )
    candidate = fit_candidate(frame, source.contract, config)
    registry = _registry(settings)
    described = f"{args.data} ({source.contract.name})" if args.data else repr(source)
    version = register_candidate(registry, candidate, source_description=described, promote=args.promote)
    table = Table("test metric", "value", title=f"{registry.model} version {version}")
    for name in ("accuracy", "roc_auc", "log_loss", "f1", "rows"):
        value = candidate.metrics.get(name)
        table.add_row(name, f"{value:.4f}" if isinstance(value, float) else str(value))
    table.add_row("epochs", f"{candidate.epochs_run} (best {candidate.best_epoch})")
    table.add_row("seconds", f"{candidate.seconds:.1f}")
    console = Console()
    console.print(table)
    alias = registry.alias("production")
    console.print(f"registered {registry.path(version)}; production is version {alias.version if alias else '-'}")
    console.print(f"training curves: {registry.path(version) / 'curves.png'}")
    return 0


def _announce(settings: Settings, registry) -> None:
    from trainer.publish import publish_update

    try:
        message = publish_update(settings.kafka, registry)
        print(f"announced version {message.version} on {settings.kafka.topic_prefix}model-updates")
    except DriftlineError as exc:
        print(f"warning: {exc}; workers will still follow the alias within "
              f"{settings.processor.model_reconcile_seconds:.0f}s", file=sys.stderr)  # fmt: skip


def _models(args: argparse.Namespace, settings: Settings) -> int:
    import orjson
    from rich.console import Console
    from rich.table import Table

    registry = _registry(settings)
    console = Console()
    if args.models_command == "list":
        table = Table("version", "created", "fingerprint", "accuracy", "roc_auc", "production")
        for v in registry.versions():
            acc, auc = v.metrics.get("accuracy"), v.metrics.get("roc_auc")
            table.add_row(str(v.version), str(v.created_at), v.fingerprint[:12],
                          f"{acc:.4f}" if acc is not None else "-", f"{auc:.4f}" if auc is not None else "-",
                          "◀ production" if v.is_production else "")  # fmt: skip
        console.print(table)
        return 0
    if args.models_command == "show":
        manifest = registry.verify(args.version)
        path = registry.path(args.version)
        training = orjson.loads((path / "training.json").read_bytes()) if (path / "training.json").exists() else {}
        console.print_json(orjson.dumps({
            "version": args.version, "path": str(path), "fingerprint": manifest.fingerprint,
            "files": dict(manifest.files), "metrics": registry.get(args.version).metrics,
            "training": {k: training.get(k)
                         for k in ("source", "epochs_run", "best_epoch", "rows", "durations_seconds")},
        }).decode())  # fmt: skip
        return 0
    if args.models_command == "promote":
        alias = registry.promote(args.version)
    else:
        alias = registry.rollback()
    console.print(f"production is version {alias.version} (previous: {alias.previous})")
    _announce(settings, registry)
    return 0


def _report(args: argparse.Namespace, settings: Settings) -> int:
    from monitoring.report import Prometheus, write_report

    url = args.prometheus or f"http://127.0.0.1:{settings.stack.prometheus_port}"
    index = write_report(Prometheus(url), _registry(settings), Path(args.out), minutes=args.minutes)
    print(f"report: {index}")
    return 0


def _settings(args: argparse.Namespace, settings: Settings) -> int:
    from driftline.settings import settings_markdown

    print(settings_markdown())
    return 0


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from rich.console import Console

    from driftline.demo import Demo, DemoOptions

    options = DemoOptions(rate=args.rate, stationary_seconds=args.stationary, timeout_seconds=args.timeout,
                          drift=args.drift_kind, workers=args.workers, keep_stack=args.keep_stack)  # fmt: skip
    return Demo(settings, options, Console()).run()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="driftline", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True)

    stack = commands.add_parser("stack", help="the local Kafka/Redis/Prometheus/Alertmanager stack")
    stack_commands = stack.add_subparsers(dest="stack_command", required=True)
    for name, handler, help_text in (
        ("up", _stack_up, "start what is missing, wait until healthy"),
        ("down", _stack_down, "stop what `up` started"),
        ("status", _stack_status, "one line per service; exit 1 unless all are healthy"),
    ):
        sub = stack_commands.add_parser(name, help=help_text)
        sub.add_argument("-q", "--quiet", action="store_true")
        sub.set_defaults(handler=handler)
    logs = stack_commands.add_parser("logs", help="the last lines of a service's log")
    logs.add_argument("service", nargs="?", choices=["kafka", "redis", "prometheus", "alertmanager"])
    logs.add_argument("-n", "--lines", type=int, default=50)
    logs.set_defaults(handler=_stack_logs)

    topics = commands.add_parser("topics", help="Kafka topics")
    topics_commands = topics.add_subparsers(dest="topics_command", required=True)
    create = topics_commands.add_parser("create", help="create Driftline's topics (idempotent)")
    create.add_argument("-q", "--quiet", action="store_true")
    create.set_defaults(handler=_topics_create)

    produce = commands.add_parser("produce", help="stream records (and later their labels) into Kafka")
    _add_source_arguments(produce)
    produce.add_argument("-n", "--count", type=int, help="how many records (default: the whole source; forever)")
    produce.add_argument("--rate", type=float, help="records per second (default: as fast as possible)")
    produce.add_argument("--label-delay", type=float, default=0.0, help="seconds before a record's label is sent")
    produce.add_argument("--no-labels", action="store_true", help="send records only")
    produce.add_argument("--bad-ratio", type=float, default=0.0, help="fraction of malformed records to mix in")
    produce.add_argument("--keep-event-time", action="store_true",
                         help="keep the source's event time (default: stamp the send time)")
    produce.add_argument("--cpu", type=int, help="pin the producer to this CPU (Linux; see docs/architecture.md)")
    produce.add_argument("-q", "--quiet", action="store_true")
    produce.set_defaults(handler=_produce)

    train = commands.add_parser("train", help="train, evaluate and register a model")
    _add_source_arguments(train)
    train.add_argument("--rows", type=int, default=50_000, help="scenario rows to train on (a --data file: all)")
    train.add_argument("--epochs", type=int, default=50, help="most epochs (early stopping decides)")
    train.add_argument("--layers", default="64,32", help="hidden layer sizes")
    promote = train.add_mutually_exclusive_group()
    promote.add_argument("--promote", action="store_true", default=None, help="make it production")
    promote.add_argument("--no-promote", action="store_false", dest="promote",
                         help="register only (default: promote when there is no production version)")
    train.set_defaults(handler=_train)

    models = commands.add_parser("models", help="the model registry")
    models_commands = models.add_subparsers(dest="models_command", required=True)
    models_commands.add_parser("list", help="versions and their test metrics").set_defaults(handler=_models)
    for name, help_text in (("show", "one version: files, hashes, metrics, training"),
                            ("promote", "make a version production (and tell every worker)")):  # fmt: skip
        sub = models_commands.add_parser(name, help=help_text)
        sub.add_argument("version", type=int)
        sub.set_defaults(handler=_models)
    models_commands.add_parser("rollback", help="production back to the previous version (every worker follows)"
                               ).set_defaults(handler=_models)  # fmt: skip

    process = commands.add_parser("process", help="run processor workers (one consumer group)")
    process.add_argument("-w", "--workers", type=int, default=1, help="worker processes (restarted if they crash)")
    process.add_argument("--index", type=int, help="run a single worker with this index, in this process")
    process.set_defaults(handler=_process)

    trainer = commands.add_parser("trainer", help="the retrain service")
    trainer_commands = trainer.add_subparsers(dest="trainer_command", required=True)
    serve = trainer_commands.add_parser("serve", help="serve /alerts, /status, /metrics, /healthz")
    serve.set_defaults(handler=_trainer_serve)

    retrain = commands.add_parser("retrain", help="retrain on recent labeled data now, as an alert would")
    retrain.add_argument("--reason", default="requested by hand")
    retrain.set_defaults(handler=_retrain)

    report = commands.add_parser("report", help="an HTML report of the last minutes, plotted from Prometheus")
    report.add_argument("--minutes", type=float, default=30.0)
    report.add_argument("--out", default=".driftline/report")
    report.add_argument("--prometheus", help="Prometheus URL (default: the local stack's)")
    report.set_defaults(handler=_report)

    commands.add_parser("settings", help="every setting as a Markdown table").set_defaults(handler=_settings)

    demo = commands.add_parser("demo", help="the whole loop on the built-in scenario, watched live")
    demo.add_argument("--rate", type=float, default=2000.0, help="records per second")
    demo.add_argument("--stationary", type=float, default=90.0, help="seconds of stationary stream before drift")
    demo.add_argument("--timeout", type=float, default=600.0, help="give up after this many seconds")
    demo.add_argument("--drift-kind", default="covariate:salary:scale=1.8;concept:function=2",
                      help="drift specs switched on after --stationary seconds (without @START)")
    demo.add_argument("--workers", type=int, default=2)
    demo.add_argument("--keep-stack", action="store_true", help="leave the stack running afterwards")
    demo.set_defaults(handler=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # kafka-python logs every refused connection at ERROR while a broker starts; our probes report instead.
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"driftline: invalid settings:\n{exc}", file=sys.stderr)
        return 2
    handler: Handler = args.handler
    try:
        return handler(args, settings)
    except DriftlineError as exc:
        print(f"driftline: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("driftline: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
