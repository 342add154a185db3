"""A version's lineage (parent, trigger, window, search) round-trips through its manifest; how a retrain's trigger
and Kafka window are recorded; and the first-model quality gate."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pandas as pd
import pytest

from driftline.contract import builtin_contract
from driftline.errors import IntegrityError
from driftline.registry import Registry
from driftline.registry.lineage import LINEAGE_KEY, Lineage, Trigger, file_window
from tests.unit.test_registry import artifacts
from trainer.recent_data import offset_ranges, window_of
from trainer.release import first_model_refusal
from trainer.request import RetrainRequest

AT = datetime(2026, 12, 6, 8, 30, tzinfo=UTC)


def test_lineage_round_trips_through_the_manifest(tmp_path: Path) -> None:
    registry = Registry(tmp_path, "m")
    lineage = Lineage(parent=3, trigger=Trigger("alert", AT, ("DriftlineAccuracyDrop",), "DriftlineAccuracyDrop"),
                      window={"kind": "kafka", "topics": {"records": {"0": [10, 99]}}, "rows": 90},
                      search={"seed": 7, "trials": 4, "selected": 1, "hyperparameters": {"dropout": 0.1}})  # fmt: skip
    version = registry.register(artifacts(), metadata={LINEAGE_KEY: lineage.to_json()})
    assert registry.lineage(version) == lineage
    raw = orjson.loads((registry.path(version) / "manifest.json").read_bytes())["metadata"][LINEAGE_KEY]
    assert raw["trigger"] == {"kind": "alert", "at": "2026-12-06T08:30:00.000+00:00",
                              "alerts": ["DriftlineAccuracyDrop"], "reason": "DriftlineAccuracyDrop"}  # fmt: skip
    assert registry.lineage(registry.register(artifacts("b"))) is None  # registered without one
    broken = registry.register(artifacts("c"), metadata={LINEAGE_KEY: {"parent": 1}})
    with pytest.raises(IntegrityError, match=f"version {broken}: its lineage"):
        registry.lineage(broken)


def test_a_retrain_request_names_its_trigger_and_settle_rounds_keep_it() -> None:
    asked = RetrainRequest("DriftlineFeatureDrift:salary", 5_000, alerts=("DriftlineFeatureDrift",), received_at=AT)
    assert asked.trigger == Trigger("alert", AT, ("DriftlineFeatureDrift",), "DriftlineFeatureDrift:salary")
    settle = asked.settling()
    assert settle.trigger.alerts == ("DriftlineFeatureDrift",) and settle.trigger.at == AT
    assert (settle.settle_round, settle.since_ms) == (1, 5_000)
    assert settle.reason == "DriftlineFeatureDrift:salary (settle 1)"
    assert RetrainRequest("requested by hand").trigger.kind == "retrain"


def test_the_kafka_window_names_the_offsets_read_and_the_event_times_kept() -> None:
    messages = [SimpleNamespace(partition=p, offset=o) for p, o in [(2, 7), (0, 5), (2, 3), (0, 6), (2, 5)]]
    assert offset_ranges(messages) == {"0": [5, 6], "2": [3, 7]}
    contract = builtin_contract()
    frame = pd.DataFrame({contract.event_time_field: [1_000, 1_500, 2_000]})
    window = window_of(frame, contract, {"records": {"0": [5, 6]}}, since_ms=900, cap=10)
    assert window == {"kind": "kafka", "topics": {"records": {"0": [5, 6]}}, "since_ms": 900, "cap": 10, "rows": 3,
                      "event_time": {"first": 1_000, "last": 2_000}}  # fmt: skip
    assert window_of(frame.iloc[:0], contract, {}, since_ms=None, cap=10)["event_time"] is None


def test_a_file_window_names_the_file_and_its_hash(tmp_path: Path) -> None:
    window = file_window(tmp_path / "wine.csv", "ab" * 32, 178)
    assert window == {"kind": "file", "path": str((tmp_path / "wine.csv").resolve()), "sha256": "ab" * 32,
                      "rows": 178}  # fmt: skip


def metrics(rows: int, low: float) -> dict[str, Any]:
    return {"accuracy": 0.8, "baseline_accuracy": 0.6, "rows": rows,
            "vs_baseline": {"difference": 0.2, "ci": [low, 0.3]}}  # fmt: skip


def test_a_first_model_must_beat_the_baseline_on_enough_test_rows() -> None:
    assert first_model_refusal(metrics(200, 0.05), 30) is None
    too_few = first_model_refusal(metrics(29, 0.05), 30)
    assert too_few is not None and too_few.startswith("its test split has 29 rows, fewer than the 30")
    chance = first_model_refusal(metrics(200, -0.01), 30)
    assert chance is not None and "not better than the majority-class baseline beyond chance" in chance
    six_rows = {"accuracy": 0.0, "baseline_accuracy": 1.0, "rows": 1, "vs_baseline": {"difference": -1.0,
                                                                                      "ci": [-1.0, -1.0]}}  # fmt: skip
    assert first_model_refusal(six_rows, 1) is not None and first_model_refusal(six_rows, 30) is not None
