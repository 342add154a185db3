"""`driftline train --scenario digits` as a user runs it: the image recipe's CNN, trained, evaluated per class,
released with its LiteRT flatbuffer and ONNX copy, and shown by `driftline models show`."""

from __future__ import annotations

from pathlib import Path

import orjson

from driftline.registry import Registry
from tests.integration.test_train_cli import run_cli


def test_train_digits_releases_a_cnn_with_per_class_metrics_and_its_plots(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    output = run_cli(root, "train", "--scenario", "digits", "--rows", "2000", "--epochs", "4")
    assert "version 1" in output
    registry = Registry(root, "driftline")
    path = registry.path(1)
    training = orjson.loads((path / "training.json").read_bytes())
    config = training["config"]
    assert (config["conv_filters"], config["hidden_layers"], config["batch_size"]) == ([32, 64], [128], 32)
    assert training["input_width"] == 784 and training["epochs_run"] <= 4
    metrics = orjson.loads((path / "metrics.json").read_bytes())
    assert list(metrics["per_class"]) == [str(d) for d in range(10)]
    assert sum(c["support"] for c in metrics["per_class"].values()) == metrics["rows"]
    assert set(metrics["roc_curves"]) <= set(metrics["per_class"]) and metrics["accuracy"] >= 0.8
    for name in ("model.onnx", "model.tflite", "curves.png", "evaluation.png"):
        assert (path / name).stat().st_size > 0
    shown = orjson.loads(run_cli(root, "models", "show", "1"))
    assert "per_class" in shown["metrics"] and "roc_curves" not in shown["metrics"]  # drawn, not printed
    assert "evaluation.png" in shown["files"]
