"""What a user sees from a real `driftline train`: no TensorFlow/LiteRT start-up noise, no progress-bar control
characters off a terminal, the useful lines kept; with DRIFTLINE_LOG_FORMAT=json every log line is one object."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import orjson

from harness.processes import ROOT

NOISE = re.compile(r"oneDNN|cuda|TF-TRT|absl|WARNING: All log messages|I0000|W0000|cpu_feature_guard|"
                   r"Saved artifact at|TensorSpec|XNNPACK|Assets written to")  # fmt: skip
CONTROL = re.compile(r"\r|\x1b\[[0-9;]*[A-Za-z]|\x1b\[\?25")  # carriage returns, cursor moves, hidden cursor


def _train(registry: Path, **env_update: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DRIFTLINE_", "TF_CPP"))}
    env.update(DRIFTLINE_REGISTRY__ROOT=str(registry), **env_update)
    result = subprocess.run([sys.executable, "-m", "driftline.cli", "train", "--rows", "3000", "--epochs", "3"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_train_output_is_quiet_and_useful(tmp_path: Path) -> None:
    result = _train(tmp_path)
    output = result.stdout + result.stderr
    noise = [line for line in output.splitlines() if NOISE.search(line)]
    assert not noise, "TensorFlow noise in the output:\n" + "\n".join(noise)
    assert not CONTROL.search(output), "progress control characters in non-terminal output"
    assert "test metric" in result.stdout and "accuracy" in result.stdout
    assert "registered" in result.stdout and "production is version 1" in result.stdout
    assert "INFO trainer.training: candidate trained epochs=3" in result.stderr
    assert "INFO trainer.release: released model=driftline model_version=1" in result.stderr


def test_json_log_format_writes_one_object_per_line(tmp_path: Path) -> None:
    result = _train(tmp_path, DRIFTLINE_LOG_FORMAT="json")
    entries = [orjson.loads(line) for line in result.stderr.splitlines()]  # every line parses, or this fails
    assert entries and all({"time", "level", "logger", "message"} <= set(entry) for entry in entries)
    loggers = {entry["logger"] for entry in entries}
    assert {"trainer.training", "trainer.release", "driftline.registry.store"} <= loggers
    assert "test metric" in result.stdout  # the command's own output is not a log line
