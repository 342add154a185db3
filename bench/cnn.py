"""`python -m bench.cnn`: the image recipe on the digits stream, measured as a release sees it.

For a few seeds: ``fit_candidate`` on ``DigitsSource(seed).frame(rows)`` with the image recipe (the CNN), its test
accuracy and interval, epochs and seconds; then the largest gap between the Keras model (its ``tf.function``) and
its LiteRT flatbuffer, and between Keras and the ONNX copy in onnxruntime, on the test rows and on a probe of
normal noise (the Scorer's own check). Prints a table and writes ``bench/results/cnn.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from driftline.onnx_export import onnx_bytes
from driftline.onnx_scorer import OnnxScorer
from driftline.preprocessing import columns_from_frame
from driftline.scoring import PROBE_ROWS
from driftline.sources.digits.source import DigitsSource
from trainer.training import TrainConfig, fit_candidate

RESULTS = Path(__file__).parent / "results"


def measure(rows: int, seed: int, max_epochs: int) -> dict[str, Any]:
    source = DigitsSource(seed=seed)
    frame = source.frame(rows)
    started = time.perf_counter()
    candidate = fit_candidate(frame, source.contract, TrainConfig(seed=seed, max_epochs=max_epochs))
    seconds = time.perf_counter() - started
    test = columns_from_frame(frame.iloc[candidate.split.test], source.contract)
    X = candidate.preprocessor.transform(test)
    probe = np.random.default_rng(0).normal(size=(PROBE_ROWS, candidate.preprocessor.width)).astype(np.float32)
    onnx = OnnxScorer(onnx_bytes(candidate.model), candidate.preprocessor.width)
    gaps = {}
    for name, batch in (("test", X), ("probe", probe)):
        keras_out = candidate.scorer.reference(batch)
        gaps[f"litert_{name}"] = float(np.abs(candidate.scorer(batch) - keras_out).max())
        gaps[f"onnx_{name}"] = float(np.abs(onnx(batch) - keras_out).max())
    return {"seed": seed, "rows": candidate.rows, "accuracy": candidate.metrics["accuracy"],
            "accuracy_ci": candidate.metrics["accuracy_ci"], "epochs": candidate.epochs_run,
            "best_epoch": candidate.best_epoch, "fit_seconds": candidate.timings["fit"], "seconds": seconds,
            "runtime": candidate.scorer.runtime, **gaps}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cnn", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3000, help="digits records per seed (80%% train)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[7, 8, 9])
    parser.add_argument("--max-epochs", type=int, default=50)
    args = parser.parse_args()
    runs = [measure(args.rows, seed, args.max_epochs) for seed in args.seeds]
    table = Table("seed", "test acc (95% CI)", "epochs (best)", "fit s", "LiteRT gap", "ONNX gap",
                  title=f"CNN on {args.rows:,} digits records, {os.cpu_count()} CPUs")  # fmt: skip
    for run in runs:
        low, high = run["accuracy_ci"]
        table.add_row(str(run["seed"]), f"{run['accuracy']:.4f} ({low:.3f}..{high:.3f})",
                      f"{run['epochs']} ({run['best_epoch']})", f"{run['fit_seconds']:.1f}",
                      f"{max(run['litert_test'], run['litert_probe']):.2g}",
                      f"{max(run['onnx_test'], run['onnx_probe']):.2g}")  # fmt: skip
    Console().print(table)
    RESULTS.mkdir(exist_ok=True)
    results = {"date": datetime.now(UTC).isoformat(), "cpus": os.cpu_count(), "rows": args.rows, "runs": runs}
    (RESULTS / "cnn.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
