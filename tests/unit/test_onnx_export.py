"""model.onnx: the trainer's MLP built as an ONNX graph (its CNN: tests/unit/test_cnn.py), scored by onnxruntime
like the served model (the golden records through the persisted preprocessing, within the LiteRT tolerance); other
layers refused; a release whose ONNX copy disagrees is not released."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from driftline.bundle import ModelBundle
from driftline.contract import Contract
from driftline.errors import IntegrityError
from driftline.golden import GOLDEN_FILE, TOLERANCE, Golden
from driftline.modelio import require_keras
from driftline.onnx_export import ONNX_FILE, onnx_bytes
from driftline.onnx_scorer import OnnxScorer, verify_onnx
from driftline.preprocessing import Preprocessor
from driftline.registry import Registry
from driftline.sources import AgrawalSource
from driftline.validation import Validator
from trainer.release import register_candidate
from trainer.training import Candidate, TrainConfig, build_model, fit_candidate

QUICK = TrainConfig(max_epochs=4, hidden_layers=(16, 8), dropout=0.2, learning_rate=1e-2, class_weight="none", seed=5)


def rows(n: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(scale=3.0, size=(n, width)).astype(np.float32)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_the_mlp_as_onnx_scores_like_keras_and_is_the_same_bytes_every_time(n_classes: int, tmp_path: Path) -> None:
    keras = require_keras()
    model = build_model(6, n_classes, QUICK)
    assert any(isinstance(layer, keras.layers.Dropout) for layer in model.layers)  # dropout: identity when scoring
    data = onnx_bytes(model)
    scorer = OnnxScorer(data, 6)
    X = rows(50, 6)
    expected = np.asarray(model(X, training=False), dtype=np.float64)
    got = scorer(X)
    assert got.shape == ((50,) if n_classes == 2 else (50, n_classes))
    assert np.abs(got - (expected[:, 0] if n_classes == 2 else expected)).max() <= TOLERANCE
    model.save(tmp_path / "model.keras")  # the bytes depend on the weights alone: same after a round trip
    reloaded = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True, compile=False)
    assert onnx_bytes(reloaded) == data
    model.layers[1].kernel.assign(model.layers[1].kernel.numpy() + 0.5)
    assert onnx_bytes(model) != data


def test_layers_the_trainer_does_not_build_are_refused_by_name() -> None:
    keras = require_keras()
    inputs = keras.Input(shape=(4,))
    normalised = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(
        keras.layers.BatchNormalization(name="norm")(inputs)))  # fmt: skip
    with pytest.raises(IntegrityError, match=r"layers Conv2D, Dense, Dropout, .* only.*'norm'.*BatchNormalization"):
        onnx_bytes(normalised)
    tanh = keras.Model(inputs, keras.layers.Dense(1, activation="tanh", name="head")(inputs))
    with pytest.raises(IntegrityError, match=r"activations.*'tanh' on layer 'head'"):
        onnx_bytes(tanh)
    branch = keras.layers.Dense(3, name="branch")(inputs)
    skip = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(
        keras.layers.Concatenate()([inputs, branch])))  # fmt: skip
    with pytest.raises(IntegrityError, match=r"Reshape only \(the trainer's MLP and CNN\).*Concatenate"):
        onnx_bytes(skip)
    two_heads = keras.Model(inputs, [keras.layers.Dense(1, activation="sigmoid")(inputs), branch])
    with pytest.raises(IntegrityError, match="one input and one output"):
        onnx_bytes(two_heads)


def test_the_scorer_refuses_a_file_of_another_width_or_no_model() -> None:
    data = onnx_bytes(build_model(6, 2, QUICK))
    with pytest.raises(IntegrityError, match=r"takes input \['batch', 6\].*\(n, 7\)"):
        OnnxScorer(data, 7)
    with pytest.raises(IntegrityError, match="cannot be loaded by onnxruntime"):
        OnnxScorer(b"not an onnx model", 6)


@pytest.fixture(scope="module", params=["agrawal", "three_classes"])
def candidate(request: pytest.FixtureRequest) -> Candidate:
    if request.param == "agrawal":
        source = AgrawalSource(seed=11)
        return fit_candidate(source.frame(1500), source.contract, QUICK)
    return fit_candidate(*three_classes(1500), QUICK)


def three_classes(n: int) -> tuple[pd.DataFrame, Contract]:
    """A multiclass frame with a nullable numeric and a categorical feature (softmax head, unknown bucket)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=n)
    colour = rng.choice(["red", "green", "blue"], size=n).astype(object)
    label = np.where(x < -0.5, "low", np.where(x > 0.5, "high", "mid")).astype(object)
    size = np.where(rng.random(n) < 0.1, None, rng.uniform(0, 10, size=n)).astype(object)
    frame = pd.DataFrame({"id": [str(i) for i in range(n)], "event_time": np.arange(n, dtype=np.int64),
                          "x": x, "size": size, "colour": colour, "label": label})  # fmt: skip
    contract = Contract.model_validate({
        "name": "three", "label": {"name": "label", "task": "multiclass", "classes": ["low", "mid", "high"]},
        "features": [{"name": "x", "kind": "numeric"}, {"name": "size", "kind": "numeric", "nullable": True},
                     {"name": "colour", "kind": "categorical"}],
    })  # fmt: skip
    return frame, contract


@pytest.fixture(scope="module")
def released(candidate: Candidate, tmp_path_factory: pytest.TempPathFactory) -> tuple[Registry, int]:
    registry = Registry(tmp_path_factory.mktemp("registry"), "onnx")
    return registry, register_candidate(registry, candidate, source_description="test", promote=True)


def test_every_release_carries_a_hashed_model_onnx_that_onnxruntime_scores_like_the_served_model(
    released: tuple[Registry, int],
) -> None:
    """The parity test: from the version's files alone, the golden records through the persisted preprocessing
    and onnxruntime give the Keras model's outputs within the LiteRT tolerance, and the same as the worker's."""
    registry, version = released
    assert ONNX_FILE in registry.verify(version).files  # listed and hashed in the manifest
    path = registry.path(version)
    golden = Golden.load(path / GOLDEN_FILE)
    bundle = ModelBundle.load(registry, version)
    preprocessor = Preprocessor.load(path / "preprocessing.json")
    scorer = OnnxScorer((path / ONNX_FILE).read_bytes(), preprocessor.width)
    validator = Validator(bundle.contract)
    assert golden.verify(validator, lambda columns: scorer(preprocessor.transform(columns))) <= TOLERANCE
    onnx_scores = golden_scores(golden, validator, lambda columns: scorer(preprocessor.transform(columns)))
    served = golden_scores(golden, validator, lambda columns: bundle.predict(columns).scores)
    assert np.abs(onnx_scores - served).max() <= 2 * TOLERANCE
    assert golden.expected.shape == onnx_scores.shape and len(golden.cases) > 32


def golden_scores(golden: Golden, validator: Validator, predict: Any) -> np.ndarray:
    batch, rejections = validator.validate_batch(list(golden.records))
    assert not rejections
    return np.asarray(predict(batch.columns), dtype=np.float64)


def test_an_onnx_copy_that_disagrees_fails_the_release_and_nothing_is_registered(
    candidate: Candidate, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keras = require_keras()
    other = keras.models.clone_model(candidate.model)
    other.set_weights([w * 1.5 for w in candidate.model.get_weights()])
    monkeypatch.setattr("trainer.release.onnx_bytes", lambda model: onnx_bytes(other))
    registry = Registry(tmp_path, "onnx")
    with pytest.raises(IntegrityError, match=r"model\.onnx does not score like the Keras model: golden records"):
        register_candidate(registry, candidate, source_description="test", promote=True)
    assert registry.versions() == [] and registry.alias() is None


def test_verify_onnx_names_the_worst_golden_case(candidate: Candidate, released: tuple[Registry, int]) -> None:
    registry, version = released
    golden = Golden.load(registry.path(version) / GOLDEN_FILE)
    weights = candidate.model.get_weights()
    other = require_keras().models.clone_model(candidate.model)
    bias = weights[-1].copy()
    bias[0] += 1e-2  # the first head unit's bias: every output moves a little (softmax too)
    other.set_weights([*weights[:-1], bias])
    with pytest.raises(IntegrityError, match=r"differs from the Keras model by .* on case '.*' \(tolerance 1e-05\)"):
        verify_onnx(onnx_bytes(other), golden, candidate.contract, candidate.preprocessor)
