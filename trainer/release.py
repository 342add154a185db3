"""Release a candidate: write its artifacts, register them, prove the version loads, then (maybe) promote.

The release compiles, the worker only runs: a version holds the Keras model, its LiteRT flatbuffer
(``model.tflite``), its ONNX copy for other runtimes (``model.onnx``) and golden records with the Keras model's
outputs (``golden.json``); the ONNX copy must reproduce the golden records in onnxruntime, or nothing is released.
Order matters (DESIGN section 7, step 1): the version is written atomically by the registry, then loaded back
exactly as a processor would (hashes verified, the flatbuffer checked against the golden records, warm-up on the
reference sample) and compared with the in-memory model; only then may the ``production`` alias move. A version
that fails the check stays registered but is never promoted, and the error says why.
"""

from __future__ import annotations

import importlib.metadata
import logging
import math
import platform
import tempfile
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from driftline.bundle import FLATBUFFER_FILE, ModelBundle
from driftline.errors import IntegrityError
from driftline.golden import GOLDEN_FILE, Golden
from driftline.onnx_export import ONNX_FILE, onnx_bytes
from driftline.onnx_scorer import verify_onnx
from driftline.registry import PRODUCTION, Registry
from driftline.registry.lineage import LINEAGE_KEY, Lineage
from trainer.curves import plot_curves, plot_evaluation
from trainer.training import Candidate

__all__ = ["CURVES_FILE", "EVALUATION_FILE", "MIN_HOLDOUT_ROWS", "TRAINING_FILE", "baseline_summary", "beats_baseline",
           "first_model_refusal", "register_candidate", "search_lineage", "training_record"]  # fmt: skip

logger = logging.getLogger(__name__)

TRAINING_FILE = "training.json"
CURVES_FILE = "curves.png"
EVALUATION_FILE = "evaluation.png"  # the test split's confusion matrix and ROC curves
_PARITY_ATOL = 1e-5
MIN_HOLDOUT_ROWS = 30  # the default of settings.trainer.min_holdout_rows
_LIBRARIES = ("driftline", "tensorflow", "tensorflow-cpu", "keras", "numpy", "pandas", "matplotlib")


def register_candidate(
    registry: Registry,
    candidate: Candidate,
    *,
    source_description: str,
    promote: bool | None = None,
    lineage: Lineage | None = None,
    new_contract: bool = False,
    min_holdout_rows: int = MIN_HOLDOUT_ROWS,
) -> int:
    """Register ``candidate`` as a new version of ``registry``'s model and return its number.

    ``promote``: True moves ``production`` to it, False leaves aliases alone, None (default) promotes only when
    there is no production version yet. A first model (no production yet) is promoted only if it passes
    :func:`first_model_refusal` (it beats the majority-class baseline on at least ``min_holdout_rows`` test rows),
    even when asked to: else it stays registered, unpromoted, for the user to inspect. ``lineage`` goes into the
    manifest's metadata. A candidate for another data contract than production's is refused (ContractMismatch)
    unless ``new_contract``. Raises IntegrityError (the version stays, unpromoted) when the registered version
    does not load back or scores differently from the candidate.
    """
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="driftline-release-") as tmp:
        files = _write_artifacts(Path(tmp), candidate, source_description)
        metadata = {
            "source": source_description,
            "contract": candidate.contract.name,
            "task": candidate.contract.label.task.value,
            "preprocessing_fingerprint": candidate.preprocessor.fingerprint,
            "profile_fingerprint": candidate.profile.fingerprint,
            "trained_at": _iso(candidate.finished_at),
            "test_accuracy": _finite_or_none(candidate.metrics["accuracy"]),
        }
        if lineage is not None:
            metadata[LINEAGE_KEY] = _jsonable(lineage.to_json())
        version = registry.register(files, metadata=metadata, new_contract=new_contract)
    verify_release(registry, version, candidate)
    first = registry.alias(PRODUCTION) is None
    refusal = first_model_refusal(candidate.metrics, min_holdout_rows) if first else None
    if promote is None:
        promote = first
    if promote and refusal is not None:
        logger.warning("model=%s model_version=%d is registered but not promoted: %s", registry.model, version,
                       refusal)  # fmt: skip
        promote = False
    elif promote and not beats_baseline(candidate.metrics):
        logger.warning("model=%s model_version=%d promoted as asked, although %s", registry.model, version,
                       baseline_summary(candidate.metrics))  # fmt: skip
    if promote:
        registry.promote(version, new_contract=new_contract)
    logger.info(
        "released model=%s model_version=%d promoted=%s seconds=%.2f",
        registry.model, version, promote, time.perf_counter() - t0,
    )  # fmt: skip
    return version


def first_model_refusal(metrics: Mapping[str, Any], min_holdout_rows: int = MIN_HOLDOUT_ROWS) -> str | None:
    """Why a first model (nothing in production to compare it with) must not be promoted, in one line; None if it
    may: its test rows are too few to tell it from the majority-class baseline, or it is not above that baseline
    beyond chance (:func:`beats_baseline`, the retrain gate's paired bootstrap)."""
    rows = int(metrics.get("rows", 0))
    if rows < min_holdout_rows:
        return (f"its test split has {rows} rows, fewer than the {min_holdout_rows} needed to tell it from the "
                "majority-class baseline (trainer.min_holdout_rows)")  # fmt: skip
    if not beats_baseline(metrics):
        return f"it is not better than the majority-class baseline beyond chance: {baseline_summary(metrics)}"
    return None


def search_lineage(candidate: Candidate) -> dict[str, Any]:
    """The search settings a version's lineage records: seed, trial budget, trials and the one selected, and the
    chosen hyper-parameters (the whole TrainConfig it was fitted with)."""
    search = candidate.search or {}
    trials = search.get("trials") or [{}]
    return {
        "seed": candidate.config.seed,
        "budget_seconds": search.get("budget_seconds"),
        "trials": len(trials),
        "trials_run": sum(1 for t in trials if "skipped" not in t),
        "selected": search.get("selected", 0),
        "selected_overrides": (trials[search["selected"]].get("overrides") if "selected" in search else None),
        "hyperparameters": candidate.config.model_dump(mode="json"),
    }


def beats_baseline(metrics: Mapping[str, Any]) -> bool:
    """Whether test metrics (``trainer.evaluation.evaluate``) show accuracy above the majority-class baseline's
    beyond chance: the lower bound of the paired-bootstrap interval of the difference is above 0 (without an
    interval: the point difference)."""
    vs = metrics.get("vs_baseline")
    if isinstance(vs, Mapping) and vs.get("ci") is not None:
        return float(vs["ci"][0]) > 0.0
    return float(metrics["accuracy"]) > float(metrics.get("baseline_accuracy", 0.0))


def baseline_summary(metrics: Mapping[str, Any]) -> str:
    ci = (metrics.get("vs_baseline") or {}).get("ci")
    baseline = float(metrics.get("baseline_accuracy", float("nan")))
    return f"test accuracy {float(metrics['accuracy']):.4f} vs majority baseline {baseline:.4f} (difference CI {ci})"


def verify_release(registry: Registry, version: int, candidate: Candidate) -> ModelBundle:
    """Load ``version`` as a processor would (hashes, safe mode, warm-up) and check that it scores the
    reference sample like the in-memory candidate; IntegrityError otherwise."""
    bundle = ModelBundle.load(registry, version)
    sample = candidate.profile.sample_columns()
    loaded = bundle.predict(sample).scores
    expected = candidate.scorer(candidate.preprocessor.transform(sample))
    if loaded.shape != expected.shape or not np.allclose(loaded, expected, atol=_PARITY_ATOL, rtol=0.0):
        worst = float(np.max(np.abs(loaded - expected))) if loaded.shape == expected.shape else math.inf
        raise IntegrityError(
            f"version {version}: the registered model scores the reference sample differently from the trained "
            f"one (max difference {worst:.3g}, expected <= {_PARITY_ATOL}); it will not be promoted"
        )
    logger.info("verified model=%s model_version=%d rows=%d", registry.model, version, len(loaded))
    return bundle


def training_record(candidate: Candidate, source_description: str) -> dict[str, Any]:
    """The content of ``training.json``: how the candidate was made, enough to reproduce it."""
    config = candidate.config
    return {
        "source": source_description,
        "contract": candidate.contract.name,
        "task": candidate.contract.label.task.value,
        "classes": list(candidate.contract.label.classes),
        "config": config.model_dump(mode="json"),
        "seeds": {"split": config.seed, "keras": config.seed, "profile_sample": config.seed},
        "rows": candidate.rows,
        "split_stratified": candidate.split.stratified,
        "class_weight": None
        if candidate.class_weight is None
        else {str(k): v for k, v in candidate.class_weight.items()},
        "input_width": candidate.preprocessor.width,
        "feature_names_out": list(candidate.preprocessor.feature_names_out),
        "epochs_run": candidate.epochs_run,
        "best_epoch": candidate.best_epoch,
        "stopped_early": candidate.stopped_by != "max_epochs",
        "stopped_by": candidate.stopped_by,
        "search": candidate.search,
        "history": candidate.history,
        "durations_seconds": candidate.timings,
        "started_at": _iso(candidate.started_at),
        "finished_at": _iso(candidate.finished_at),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "libraries": {name: v for name in _LIBRARIES if (v := _version_of(name)) is not None},
    }


def _write_artifacts(directory: Path, candidate: Candidate, source_description: str) -> dict[str, Path]:
    if candidate.scorer.flatbuffer is None:
        raise IntegrityError(
            "the model did not compile to a LiteRT flatbuffer that agrees with Keras (the log says why); "
            "workers serve only model.tflite, so it cannot be released"
        )
    files = {
        "model.keras": directory / "model.keras",
        FLATBUFFER_FILE: directory / FLATBUFFER_FILE,
        ONNX_FILE: directory / ONNX_FILE,
        GOLDEN_FILE: directory / GOLDEN_FILE,
        "preprocessing.json": directory / "preprocessing.json",
        "profile.json": directory / "profile.json",
        "contract.yaml": directory / "contract.yaml",
        "metrics.json": directory / "metrics.json",
        TRAINING_FILE: directory / TRAINING_FILE,
        CURVES_FILE: directory / CURVES_FILE,
        EVALUATION_FILE: directory / EVALUATION_FILE,
    }
    candidate.model.save(files["model.keras"])
    files[FLATBUFFER_FILE].write_bytes(candidate.scorer.flatbuffer)
    keras_outputs = candidate.scorer.reference  # the golden records' truth is the Keras model, not its flatbuffer
    golden = Golden.build(candidate.contract, candidate.preprocessor, candidate.profile,
                          lambda columns: keras_outputs(candidate.preprocessor.transform(columns)))  # fmt: skip
    golden.save(files[GOLDEN_FILE])
    onnx_model = onnx_bytes(candidate.model)  # the portable copy: released only if it reproduces the golden records
    verify_onnx(onnx_model, golden, candidate.contract, candidate.preprocessor)
    files[ONNX_FILE].write_bytes(onnx_model)
    candidate.preprocessor.save(files["preprocessing.json"])
    candidate.profile.save(files["profile.json"])
    candidate.contract.to_yaml(files["contract.yaml"])
    metrics = {
        **candidate.metrics,
        "evaluated_on": "test",
        "split_rows": {k: candidate.rows[k] for k in ("train", "validation", "test")},
    }
    _write_json(files["metrics.json"], metrics)
    _write_json(files[TRAINING_FILE], training_record(candidate, source_description))
    plot_curves(
        candidate.history,
        files[CURVES_FILE],
        title=f"{candidate.contract.name}: {source_description}",
        best_epoch=candidate.best_epoch,
    )
    plot_evaluation(candidate.metrics, files[EVALUATION_FILE], title=f"{candidate.contract.name}: test split")
    return files


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Indented JSON with sorted keys; non-finite floats (an undefined AUC) become null."""
    path.write_bytes(orjson.dumps(_jsonable(data), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float | np.floating):
        return _finite_or_none(float(value))
    if isinstance(value, np.integer):
        return int(value)
    return value


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _version_of(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")
