"""`python -m trainer` (`driftline train | retrain | models | trainer serve`): train and register a model, run the
retrain service, retrain by hand, and look after the registry's versions."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from driftline.entrypoint import command_parser, positive_int, positive_ints, run_command
from driftline.errors import ConfigError, DataError, DriftlineError
from driftline.registry import Registry
from driftline.settings import Settings
from driftline.sources.factory import add_source_arguments, source_from_arguments
from trainer.app import registry_of

DEFAULT_ROWS = 50_000
DEFAULT_IMAGE_ROWS = 6_000  # a CNN learns the digits from a few thousand pictures; 50,000 would take minutes


def _train(args: argparse.Namespace, settings: Settings) -> int:
    from rich.console import Console
    from rich.table import Table

    from driftline.progress import tracked
    from driftline.registry import PRODUCTION
    from driftline.registry.files import sha256_file
    from driftline.registry.lineage import Lineage, Trigger, file_window, scenario_window
    from driftline.sources import to_frame
    from trainer.release import first_model_refusal, register_candidate, search_lineage
    from trainer.training import TrainConfig, fit_candidate

    started = datetime.now(UTC)
    source = source_from_arguments(args)
    if args.data and not getattr(source, "has_labels", True):
        raise DataError(f"{args.data} has no label column {source.contract.label.name!r}: nothing to learn from")
    registry = registry_of(settings)
    parent = registry.alias(PRODUCTION)
    registry.check_contract(source.contract, new_contract=args.new_contract)  # refused before training, not after
    digest = sha256_file(args.data) if args.data else None  # hashed before it is read: the bytes trained on
    records = tracked(source.records(), f"reading {args.data}") if args.data else None
    rows = args.rows or (DEFAULT_IMAGE_ROWS if source.contract.image else DEFAULT_ROWS)
    frame = to_frame(records, source.contract) if records is not None else source.frame(rows)
    layers = args.layers or (None if source.contract.image else (64, 32))  # an image model's come from its recipe
    config = TrainConfig(max_epochs=args.epochs, seed=args.seed, **({"hidden_layers": layers} if layers else {}))
    candidate = fit_candidate(frame, source.contract, config)
    described = f"{args.data} ({source.contract.name})" if args.data else repr(source)
    if args.data and digest:
        window = file_window(args.data, digest, len(frame))
    else:
        window = scenario_window(described, len(frame))
    lineage = Lineage(parent=parent.version if parent else None, trigger=Trigger("train", started, reason="train"),
                      window=window, search=search_lineage(candidate))  # fmt: skip
    min_rows = settings.trainer.min_holdout_rows
    version = register_candidate(registry, candidate, source_description=described, promote=args.promote,
                                 lineage=lineage, new_contract=args.new_contract, min_holdout_rows=min_rows)
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
    console.print(f"confusion matrix and ROC curves: {registry.path(version) / 'evaluation.png'}")
    refusal = first_model_refusal(candidate.metrics, min_rows) if parent is None else None
    if refusal is not None and args.promote is not False:  # a first model that was (to be) promoted, and is not
        print(f"version {version} is registered but not promoted: {refusal}", file=sys.stderr)
        return 1 if args.promote else 0
    return 0


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from driftline.kafka_clients import check_kafka
    from trainer.app import registry_of, serve, webhook_token

    try:  # refuse to start on settings that cannot be served safely: one line, exit 2 as for invalid settings
        webhook_token(settings.trainer)
        registry_of(settings)
        check_kafka(settings.kafka)  # a refused certificate or login, not a lag exporter failing every interval
    except ConfigError as exc:
        print(f"trainer serve: {exc}", file=sys.stderr)
        return 2
    serve(settings)
    return 0


def _retrain(args: argparse.Namespace, settings: Settings) -> int:
    from trainer.app import build_retrain
    from trainer.request import RetrainRequest

    since_ms = int(args.since * 1000) if args.since is not None else None
    result = build_retrain(settings, registry_of(settings))(RetrainRequest(args.reason, since_ms))
    print(f"retrain {result.outcome}: {result.reason} ({result.rows:,} recent labeled rows, {result.seconds:.0f}s)")
    return 0 if result.outcome in ("promoted", "staged", "rejected", "skipped") else 1


def _announce(settings: Settings, registry: Registry) -> None:
    from trainer.publish import publish_update

    try:
        update = publish_update(settings.kafka, registry)
        print(f"announced version {update.version} on {settings.kafka.topic_prefix}model-updates")
    except DriftlineError as exc:
        print(f"warning: {exc}; workers will still follow the alias within "
              f"{settings.processor.model_reconcile_seconds:.0f}s", file=sys.stderr)  # fmt: skip


def _models_list(args: argparse.Namespace, settings: Settings) -> int:
    from rich.console import Console
    from rich.table import Table

    from driftline.registry import STAGING

    registry = registry_of(settings)
    staging = registry.alias(STAGING)
    table = Table("version", "created", "fingerprint", "accuracy", "roc_auc", "alias")
    for v in registry.versions():
        acc, auc = v.metrics.get("accuracy"), v.metrics.get("roc_auc")
        alias = "◀ production" if v.is_production else ("◀ staging" if staging and staging.version == v.version else "")
        table.add_row(str(v.version), str(v.created_at), v.fingerprint[:12],
                      f"{acc:.4f}" if acc is not None else "-", f"{auc:.4f}" if auc is not None else "-",
                      alias)  # fmt: skip
    Console().print(table)
    return 0


def _models_show(args: argparse.Namespace, settings: Settings) -> int:
    import orjson
    from rich.console import Console

    registry = registry_of(settings)
    manifest = registry.verify(args.version)
    path = registry.path(args.version)
    training = orjson.loads((path / "training.json").read_bytes()) if (path / "training.json").exists() else {}
    metrics = registry.get(args.version).metrics
    lineage = registry.lineage(args.version)
    level = (metrics.get("interval") or {}).get("level", 0.95)
    intervals = {name: {"value": metrics.get(name), "ci": metrics.get(f"{name}_ci")}
                 for name in ("accuracy", "roc_auc", "log_loss", "f1") if name in metrics}  # fmt: skip
    search = training.get("search") or {}
    trials = [{k: t.get(k) for k in ("trial", "overrides", "validation", "seconds", "skipped") if k in t}
              for t in search.get("trials", [])]  # fmt: skip
    Console().print_json(orjson.dumps({
        "version": args.version, "path": str(path), "fingerprint": manifest.fingerprint,
        "files": dict(manifest.files),
        "metrics": {k: v for k, v in metrics.items() if k != "roc_curves"},  # drawn in evaluation.png instead
        "test": {"rows": metrics.get("rows"), "level": level, **intervals,
                 "baseline_accuracy": metrics.get("baseline_accuracy"), "vs_baseline": metrics.get("vs_baseline")},
        "training": {k: training.get(k) for k in ("source", "epochs_run", "best_epoch", "stopped_by", "rows",
                                                  "durations_seconds")},
        "search": {"selected": search.get("selected"), "seconds": search.get("seconds"), "trials": trials}
        if search else None,
        "lineage": None if lineage is None else lineage.to_json(),
        "new_contract": manifest.metadata.get("new_contract"),
    }).decode())  # fmt: skip
    return 0


def _models_move(args: argparse.Namespace, settings: Settings) -> int:
    """promote N, or rollback: load the version exactly as a worker would (hashes, safe mode, preprocessing,
    warm-up), and only then move the production alias and tell every worker."""
    from driftline.bundle import ModelBundle
    from driftline.errors import VersionNotFound
    from driftline.registry import PRODUCTION, STAGING

    registry = registry_of(settings)
    promote = args.models_command == "promote"
    current = registry.alias(PRODUCTION)
    if not promote and (current is None or current.previous is None):
        raise VersionNotFound(f"production of model {registry.model!r} has no previous version to roll back to")
    target = args.version if promote else current.previous  # type: ignore[union-attr]
    try:
        ModelBundle.load(registry, target)
    except DriftlineError as exc:
        raise DriftlineError(f"version {target} would not serve, production stays as it is: {exc}") from exc
    staged = registry.alias(STAGING)
    alias = registry.promote(target, new_contract=args.new_contract) if promote else registry.rollback()
    print(f"production is version {alias.version} (previous: {alias.previous})"
          + ("; staging cleared" if promote and staged is not None and staged.version == target else ""))
    _announce(settings, registry)
    return 0


def _models_sign(args: argparse.Namespace, settings: Settings) -> int:
    """Sign versions again with the trainer's (new) key, each once it verifies against the key it was signed with."""
    from driftline.signing import load_verifier

    registry = registry_of(settings)
    previous = load_verifier(args.previous_key)
    for version in args.versions:
        registry.sign(version, signed_by=previous)
        print(f"version {version}: signed with key {registry.signer.verifier.key_id}")  # type: ignore[union-attr]
    return 0


def _models_export(args: argparse.Namespace, settings: Settings) -> int:
    """A version as a portable bundle (model, preprocessing, contract, golden records, metadata, README)."""
    from trainer.export import export_version

    exported = export_version(registry_of(settings), args.version, args.format, args.directory)
    built = " (model.onnx built from model.keras: the version was released without one)" if exported.onnx_built else ""
    print(f"exported version {exported.version} as {exported.format} to {exported.directory}{built}; "
          f"golden records reproduced within {exported.max_difference:.3g}")  # fmt: skip
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser("python -m trainer", "training, the retrain service and the model registry")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train, evaluate and register a model")
    add_source_arguments(train)
    train.add_argument("--rows", type=positive_int, help=f"scenario rows to train on (default {DEFAULT_ROWS:,}; "
                       f"digits {DEFAULT_IMAGE_ROWS:,}; a --data file: all)")  # fmt: skip
    train.add_argument("--epochs", type=positive_int, default=50, help="most epochs (early stopping decides)")
    train.add_argument("--layers", type=positive_ints, default=None,
                       help="hidden layer sizes (default 64,32; an image model: 128 after its convolutions)")
    promote = train.add_mutually_exclusive_group()
    promote.add_argument("--promote", action="store_true", default=None, help="make it production")
    promote.add_argument("--no-promote", action="store_false", dest="promote",
                         help="register only (default: promote when there is no production version)")  # fmt: skip
    train.add_argument("--new-contract", action="store_true",
                       help="the data contract differs from production's on purpose: accept it")  # fmt: skip
    train.set_defaults(handler=_train)

    commands.add_parser("serve", help="serve /alerts, /status, /metrics, /healthz").set_defaults(handler=_serve)

    retrain = commands.add_parser("retrain", help="retrain on recent labeled data now, as an alert would")
    retrain.add_argument("--reason", default="requested by hand")
    retrain.add_argument("--since", type=float, help="learn only from records after this moment (epoch seconds)")
    retrain.set_defaults(handler=_retrain)

    models = commands.add_parser("models", help="the model registry")
    models_commands = models.add_subparsers(dest="models_command", required=True)
    models_commands.add_parser("list", help="versions and their test metrics").set_defaults(handler=_models_list)
    show = models_commands.add_parser("show", help="one version: files, hashes, metrics, training, lineage")
    show.add_argument("version", type=int)
    show.set_defaults(handler=_models_show)
    promote_version = models_commands.add_parser(
        "promote", help="make a version production, e.g. the staging one (every worker follows)")
    promote_version.add_argument("version", type=int)
    promote_version.add_argument("--new-contract", action="store_true",
                                 help="its data contract differs from production's on purpose: accept it")  # fmt: skip
    promote_version.set_defaults(handler=_models_move)
    models_commands.add_parser("rollback", help="production back to the previous version (every worker follows)"
                               ).set_defaults(handler=_models_move)  # fmt: skip
    sign = models_commands.add_parser("sign", help="sign versions again with the signing key (a key rotation)")
    sign.add_argument("versions", type=int, nargs="+")
    sign.add_argument("--previous-key", type=Path, required=True,
                      help="public key the versions are signed with now; a version it does not verify is refused")
    sign.set_defaults(handler=_models_sign)
    export = models_commands.add_parser("export", help="a version as a portable bundle: ONNX or TF SavedModel")
    export.add_argument("version", type=int)
    export.add_argument("--format", choices=("onnx", "savedmodel"), default="onnx", help="default: onnx")
    export.add_argument("directory", type=Path, help="a new or empty folder for the bundle")
    export.set_defaults(handler=_models_export)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(build_parser(), argv)
