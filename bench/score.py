"""`make bench-score`: rows/s of validation + preprocessing + scoring by batch size, beside per-record
``model.predict`` and ``model(x)``, all in the same run; then the same for images (the digits CNN: PNG decode +
resize/scale + LiteRT) at batch 1, 64 and 512 beside per-image ``model.predict``. Prints tables and writes
``bench/results/score.json``."""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from bench.stream import bench_registry
from driftline.bundle import ModelBundle
from driftline.modelio import load_keras
from driftline.registry import MODEL_FILE, Registry
from driftline.sources import AgrawalSource
from driftline.sources.digits import DigitsSource
from driftline.validation import Validator

RESULTS = Path(__file__).parent / "results"
BATCHES = (1, 64, 512, 4096)
IMAGE_BATCHES = (1, 64, 512)


def rate(step: Callable[[list[bytes]], Any], raws: list[bytes], batch: int, *, min_seconds: float = 1.0) -> float:
    """Rows per second of ``step`` over consecutive batches, repeated until at least ``min_seconds`` passed."""
    step(raws[:batch])  # warm
    rows, started = 0, time.perf_counter()
    while True:
        for i in range(0, len(raws) - batch + 1, batch):
            step(raws[i : i + batch])
            rows += batch
            if time.perf_counter() - started >= min_seconds and rows >= batch * 3:
                return rows / (time.perf_counter() - started)


def main() -> int:
    console = Console()
    registry = bench_registry(Path(".driftline/bench/registry"))
    bundle = ModelBundle.load_production(registry)
    raws = [orjson.dumps(r.record) for r in AgrawalSource(seed=5).take(20_480)]
    validator = Validator(bundle.contract)
    model = load_keras(registry.path(bundle.version) / MODEL_FILE)  # the baselines call the Keras model itself

    def pipeline(batch: list[bytes]) -> Any:
        valid, _ = validator.validate_batch(batch)
        return bundle.predict(valid.columns)

    def per_record(call: Callable[[Any], Any]) -> Callable[[list[bytes]], Any]:
        def step(batch: list[bytes]) -> Any:
            valid, _ = validator.validate_batch(batch)
            return call(bundle.preprocessor.transform(valid.columns))

        return step

    results: dict[str, Any] = {"date": datetime.now(UTC).isoformat(), "cpus": os.cpu_count(),
                               "python": platform.python_version(), "model_version": bundle.version}  # fmt: skip
    import tensorflow as tf

    results["tensorflow"] = tf.__version__
    results["scorer_runtime"] = bundle.scorer.runtime
    console.print("measuring ...")
    results["pipeline"] = {str(b): rate(pipeline, raws, b) for b in BATCHES}
    results["per_record_model_call"] = rate(per_record(lambda x: model(x, training=False)), raws, 1)
    results["per_record_model_predict"] = rate(per_record(lambda x: model.predict(x, verbose=0)), raws[:400], 1,
                                               min_seconds=3.0)  # fmt: skip
    naive = results["per_record_model_predict"]
    table = Table("path", "batch", "rows/s", "× per-record model.predict",
                  title="validation + preprocessing + scoring (same run)")  # fmt: skip
    for b in BATCHES:
        value = results["pipeline"][str(b)]
        table.add_row(f"Driftline ({bundle.scorer.runtime} scorer)", str(b), f"{value:,.0f}", f"{value / naive:,.0f}×")
    table.add_row("per-record model(x)", "1", f"{results['per_record_model_call']:,.0f}",
                  f"{results['per_record_model_call'] / naive:,.1f}×")  # fmt: skip
    table.add_row("per-record model.predict", "1", f"{naive:,.1f}", "1×")
    console.print(table)
    at512 = results["pipeline"]["512"]
    results["targets"] = {"rows_per_second_at_512": at512, "met_100k": at512 >= 100_000,
                          "ratio_to_predict_at_512": at512 / naive, "met_1000x": at512 / naive >= 1000}  # fmt: skip
    console.print(f"at batch 512: {at512:,.0f} rows/s (target 100,000: {'met' if at512 >= 100_000 else 'MISSED'}), "
                  f"{at512 / naive:,.0f}× per-record model.predict (target 1,000×: "
                  f"{'met' if at512 / naive >= 1000 else 'MISSED'})")  # fmt: skip
    results["images"] = _image_rows(console)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "score.json").write_text(json.dumps(results, indent=2))
    console.print(f"saved {RESULTS / 'score.json'}")
    return 0


def digits_registry(root: Path) -> Registry:
    """The digits CNN in production, or a quickly trained one (3,000 images, 4 epochs: speed does not depend on it)."""
    registry = Registry(root, "digits")
    if registry.alias("production") is None:
        from trainer.release import register_candidate
        from trainer.training import TrainConfig, fit_candidate

        source = DigitsSource(seed=7)
        candidate = fit_candidate(source.frame(3000), source.contract, TrainConfig(max_epochs=4))
        register_candidate(registry, candidate, source_description=repr(source), promote=True)
    return registry


def _image_rows(console: Console) -> dict[str, Any]:
    """Images: validation (base64 + PNG decode) + preprocessing + LiteRT by batch size, against per-image
    ``model.predict`` on the same records, in the same run."""
    registry = digits_registry(Path(".driftline/bench/registry-digits"))
    bundle = ModelBundle.load_production(registry)
    raws = [orjson.dumps(r.record) for r in DigitsSource(seed=5).take(4096)]
    validator = Validator(bundle.contract)
    model = load_keras(registry.path(bundle.version) / MODEL_FILE)

    def pipeline(batch: list[bytes]) -> Any:
        valid, _ = validator.validate_batch(batch)
        return bundle.predict(valid.columns)

    def per_image_predict(batch: list[bytes]) -> Any:
        valid, _ = validator.validate_batch(batch)
        return model.predict(bundle.preprocessor.transform(valid.columns), verbose=0)

    console.print("measuring images ...")
    out: dict[str, Any] = {"model_version": bundle.version, "width": bundle.preprocessor.width,
                           "pipeline": {str(b): rate(pipeline, raws, b) for b in IMAGE_BATCHES}}  # fmt: skip
    out["per_image_model_predict"] = rate(per_image_predict, raws[:300], 1, min_seconds=3.0)
    naive = out["per_image_model_predict"]
    table = Table("path", "batch", "images/s", "× per-image model.predict",
                  title="images: PNG decode + resize/scale + CNN (same run)")  # fmt: skip
    for b in IMAGE_BATCHES:
        value = out["pipeline"][str(b)]
        table.add_row(f"Driftline ({bundle.scorer.runtime} scorer)", str(b), f"{value:,.0f}", f"{value / naive:,.1f}×")
    table.add_row("per-image model.predict", "1", f"{naive:,.1f}", "1×")
    console.print(table)
    out["ratio_to_predict_at_512"] = out["pipeline"]["512"] / naive
    return out


if __name__ == "__main__":
    raise SystemExit(main())
