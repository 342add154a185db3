"""Training: a seeded disjoint split, preprocessing fitted on the training split only, a complete release."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pytest

from driftline.bundle import REQUIRED_FILES, ModelBundle
from driftline.contract import Contract
from driftline.preprocessing import columns_from_frame
from driftline.registry import Registry
from driftline.sources import AgrawalSource
from trainer.release import beats_baseline, register_candidate
from trainer.training import Candidate, TrainConfig, fit_candidate, split_indices

QUICK = TrainConfig(max_epochs=10, hidden_layers=(16,), learning_rate=1e-2, class_weight="none", seed=3)


def test_split_is_seeded_disjoint_complete_and_stratified() -> None:
    y = np.array([0] * 700 + [1] * 300)
    a, b = split_indices(y, seed=5), split_indices(y, seed=5)
    assert all(np.array_equal(getattr(a, k), getattr(b, k)) for k in ("train", "validation", "test"))
    parts = [set(a.train), set(a.validation), set(a.test)]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert set().union(*parts) == set(range(1000))
    assert a.stratified and y[a.test].mean() == pytest.approx(0.3, abs=0.01)
    assert not np.array_equal(split_indices(y, seed=6).test, a.test)


@pytest.fixture(scope="module")
def candidate() -> Candidate:
    source = AgrawalSource(seed=11)
    return fit_candidate(source.frame(3000), source.contract, QUICK)


def test_preprocessing_is_fitted_on_the_training_split_only(candidate: Candidate) -> None:
    source = AgrawalSource(seed=11)
    frame = source.frame(3000)
    train = frame.iloc[candidate.split.train]
    salary = next(f for f in candidate.preprocessor.spec.features if f.name == "salary")
    assert salary.impute == pytest.approx(float(np.nanmedian(train["salary"])))
    assert salary.center == pytest.approx(float(train["salary"].mean()))
    assert salary.center != pytest.approx(float(frame["salary"].mean()), rel=1e-9)
    assert salary.edges is not None and salary.edges[0] == train["salary"].min() < frame["salary"].min() + 1e3
    assert salary.edges[-1] == train["salary"].max()


def test_test_metrics_carry_intervals_and_the_baseline(candidate: Candidate) -> None:
    metrics = candidate.metrics
    assert metrics["accuracy_ci"][0] <= metrics["accuracy"] <= metrics["accuracy_ci"][1]
    assert metrics["roc_auc_ci"][0] <= metrics["roc_auc"] <= metrics["roc_auc_ci"][1]
    assert metrics["interval"]["resamples"] == 1000 and metrics["interval"]["seed"] == QUICK.seed
    assert 0.6 < metrics["baseline_accuracy"] < 0.75  # function 1 labels two thirds of the ages group A
    assert candidate.class_weight is None  # no reweighting: the gate scores accuracy


def test_candidate_scores_are_finite_probabilities(candidate: Candidate) -> None:
    columns = columns_from_frame(AgrawalSource(seed=12).frame(500), candidate.contract)
    scores = candidate.scorer(candidate.preprocessor.transform(columns))
    assert scores.shape == (500,) and np.isfinite(scores).all() and ((scores >= 0) & (scores <= 1)).all()
    assert set(candidate.metrics) >= {"accuracy", "roc_auc", "log_loss", "f1"}
    assert len(candidate.history["loss"]) == candidate.epochs_run


def test_release_writes_every_artifact_and_promotes_only_the_first(candidate: Candidate, tmp_path: Path) -> None:
    registry = Registry(tmp_path, "m")
    first = register_candidate(registry, candidate, source_description="test")
    files = set(registry.manifest(first).files)
    assert set(REQUIRED_FILES) | {"training.json", "curves.png"} <= files
    assert (registry.path(first) / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert registry.alias("production").version == first  # type: ignore[union-attr]
    second = register_candidate(registry, candidate, source_description="test")
    assert registry.alias("production").version == first  # type: ignore[union-attr]
    bundle = ModelBundle.load(registry, second)
    assert bundle.version == second and bundle.preprocessor.fingerprint == candidate.preprocessor.fingerprint
    metrics = orjson.loads((registry.path(first) / "metrics.json").read_bytes())
    assert metrics["accuracy_ci"] == list(candidate.metrics["accuracy_ci"]) and "baseline_accuracy" in metrics


def test_a_first_model_no_better_than_the_baseline_is_not_promoted(candidate: Candidate, tmp_path: Path) -> None:
    registry = Registry(tmp_path, "m")
    poor = replace(candidate, metrics={**candidate.metrics, "accuracy": 0.70, "baseline_accuracy": 0.69,
                                       "vs_baseline": {"difference": 0.01, "ci": [-0.01, 0.03]}})  # fmt: skip
    assert not beats_baseline(poor.metrics) and beats_baseline(candidate.metrics)
    first = register_candidate(registry, poor, source_description="test")
    assert registry.alias("production") is None and registry.latest().version == first  # type: ignore[union-attr]
    asked = register_candidate(registry, poor, source_description="test", promote=True)  # a first model: refused
    assert registry.alias("production") is None and registry.latest().version == asked
    few = register_candidate(registry, candidate, source_description="test", promote=True,
                             min_holdout_rows=candidate.metrics["rows"] + 1)  # fmt: skip
    assert registry.alias("production") is None and registry.latest().version == few
    good = register_candidate(registry, candidate, source_description="test", promote=True)
    assert registry.alias("production").version == good  # type: ignore[union-attr]
    forced = register_candidate(registry, poor, source_description="test", promote=True)  # not a first: as asked
    assert registry.alias("production").version == forced  # type: ignore[union-attr]


def test_multiclass() -> None:
    rng = np.random.default_rng(0)
    n = 1500
    x = rng.normal(size=n)
    colour = rng.choice(["red", "green", "blue"], size=n)
    label = np.where(x < -0.5, "low", np.where(x > 0.5, "high", "mid"))
    frame = pd.DataFrame({"id": [str(i) for i in range(n)], "event_time": np.arange(n, dtype=np.int64),
                          "x": x, "colour": colour.astype(object), "label": label.astype(object)})  # fmt: skip
    contract = Contract.model_validate({
        "name": "three", "label": {"name": "label", "task": "multiclass", "classes": ["low", "mid", "high"]},
        "features": [{"name": "x", "kind": "numeric"}, {"name": "colour", "kind": "categorical"}],
    })  # fmt: skip
    candidate = fit_candidate(frame, contract, TrainConfig(max_epochs=20, hidden_layers=(16,), seed=1))
    scores = candidate.scorer(candidate.preprocessor.transform(columns_from_frame(frame, contract)))
    assert scores.shape == (n, 3)
    assert np.allclose(scores.sum(axis=1), 1.0, atol=1e-5)
    assert candidate.metrics["accuracy"] > 0.7  # chance is about 0.38
