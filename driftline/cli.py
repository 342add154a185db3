"""The `driftline` command: a thin dispatcher to each part's own entry point, imported only when it is called.

``driftline produce ...`` is ``python -m producers ...``, ``driftline process ...`` is ``python -m processors run
...``, ``driftline serve`` is ``python -m processors serve``, and so on (``COMMANDS``), so `driftline produce` never
imports TensorFlow. Three commands are the core's own: ``topics create``, ``keys create`` and ``settings``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

from driftline.entrypoint import command_parser, run_command
from driftline.settings import Settings, settings_markdown

# command → (the module whose main(argv) runs it, the arguments put before the user's, what it does)
COMMANDS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "stack": ("stack.cli", (), "the local Kafka/Redis/Prometheus/Alertmanager stack: up, down, status, logs"),
    "produce": ("producers.cli", (), "stream records (and later their labels) into Kafka"),
    "process": ("processors.cli", ("run",), "run processor workers (one consumer group)"),
    "serve": ("processors.cli", ("serve",), "HTTP scoring: POST /v1/predict, batched, hot-swapped like the workers"),
    "replay": ("processors.cli", ("replay",), "re-score a range of the records topic with the versions that served it"),
    "score": ("processors.cli", ("score",), "image files → class and probabilities with the production model"),
    "train": ("trainer.cli", ("train",), "train, evaluate and register a model"),
    "retrain": ("trainer.cli", ("retrain",), "retrain on recent labeled data now, as an alert would"),
    "models": ("trainer.cli", ("models",), "the model registry: list, show, promote, rollback, export"),
    "trainer": ("trainer.cli", (), "the retrain service: trainer serve"),
    "report": ("monitoring.cli", ("report",), "an HTML report of the last minutes, plotted from Prometheus"),
    "demo": ("demo.cli", (), "the whole loop on the built-in scenario, watched live"),
    "doctor": ("stack.doctor", (), "check Java, jars, services, ports, registry, topics; print each fix"),
}


def _topics_create(args: argparse.Namespace, settings: Settings) -> int:
    from driftline.kafka_admin import ensure_topics

    for outcome in ensure_topics(settings.kafka):
        if not args.quiet:
            print(f"{outcome.name:40s} partitions={outcome.partitions:<3d} {outcome.outcome}")
    return 0


def _keys_create(args: argparse.Namespace, settings: Settings) -> int:
    from driftline.signing import create_keys

    private, public = create_keys(args.directory)
    print(f"private key {private} (mode 0600: the trainer's alone)\npublic key  {public} (workers, models promote)\n"
          f"trainer:             DRIFTLINE_REGISTRY__SIGNING_KEY={private.resolve()}\n"
          f"workers and promote: DRIFTLINE_REGISTRY__PUBLIC_KEY={public.resolve()}")  # fmt: skip
    return 0


def _settings(args: argparse.Namespace, settings: Settings) -> int:
    print(settings_markdown())
    return 0


def _core_parser() -> argparse.ArgumentParser:
    parser = command_parser("driftline", __doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    topics = commands.add_parser("topics", help="Kafka topics").add_subparsers(dest="topics_command", required=True)
    create = topics.add_parser("create", help="create Driftline's topics (idempotent)")
    create.add_argument("-q", "--quiet", action="store_true")
    create.set_defaults(handler=_topics_create)
    keys = commands.add_parser("keys", help="signing keys").add_subparsers(dest="keys_command", required=True)
    keys_create = keys.add_parser("create", help="a new Ed25519 key pair to sign and verify model versions with")
    keys_create.add_argument("directory", type=Path, help="folder for registry.key and registry.pub (not overwritten)")
    keys_create.set_defaults(handler=_keys_create)
    commands.add_parser("settings", help="every setting as a Markdown table").set_defaults(handler=_settings)
    return parser


def usage() -> str:
    rows = [f"  {name:10s} {help_text}" for name, (_, _, help_text) in COMMANDS.items()]
    rows += ["  topics     Kafka topics: topics create", "  keys       signing keys of model versions: keys create DIR",
             "  settings   every setting as a Markdown table"]  # fmt: skip
    return "usage: driftline [-v] COMMAND [ARGS ...]\n\ncommands:\n" + "\n".join(rows) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    flags = [a for a in args[:1] if a in ("-v", "--verbose")]  # `driftline -v COMMAND ...`
    rest = args[len(flags) :]
    if not rest or rest[0] in ("-h", "--help"):
        print(usage(), end="")
        return 0 if rest else 2
    command, *tail = rest
    if command in COMMANDS:
        module, before, _ = COMMANDS[command]
        entry = importlib.import_module(module)
        return int(entry.main([*flags, *before, *tail]))
    if command in ("topics", "keys", "settings"):
        return run_command(_core_parser(), [*flags, *rest])
    print(f"driftline: unknown command {command!r}\n\n{usage()}", end="", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
