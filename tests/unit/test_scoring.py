"""Model I/O and scoring with tiny real Keras models: safe loading, one trace for every batch size, parity of the
LiteRT-compiled model with the Keras model, and the fall-back to the tf.function."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import driftline.scoring as scoring
from driftline.errors import DataError, IntegrityError
from driftline.litert import LiteRTScorer
from driftline.modelio import load_keras
from driftline.registry import Registry
from driftline.scoring import Scorer

WIDTH = 5


@pytest.fixture(scope="module")
def keras() -> Any:
    return pytest.importorskip("keras")


def mlp(keras: Any, units: int = 1, activation: str = "sigmoid", seed: int = 3) -> Any:
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((WIDTH,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(units, activation=activation),
        ]
    )


@pytest.fixture(scope="module")
def binary_model(keras: Any) -> Any:
    return mlp(keras)


@pytest.fixture(scope="module")
def multiclass_model(keras: Any) -> Any:
    return mlp(keras, units=3, activation="softmax")


def rows(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, WIDTH)).astype(np.float32)


@pytest.mark.parametrize("runtime", ["litert", "tensorflow"])
def test_scores_match_model_call_and_predict_without_retracing(binary_model: Any, runtime: str) -> None:
    scorer = Scorer(binary_model, WIDTH, runtime=runtime)
    assert scorer.runtime == runtime  # asked for LiteRT, a plain Dense model compiles and agrees with the function
    assert (scorer.flatbuffer is not None) == (runtime == "litert")
    assert scorer.tracing_count == 1  # traced once, at construction
    for n in (1, 7, 512, 7, 1):  # sizes back and forth: the interpreter is resized each time
        X = rows(n, seed=n)
        scores = scorer(X)
        assert scores.shape == (n,) and scores.dtype == np.float64
        np.testing.assert_allclose(scores, binary_model(X, training=False).numpy()[:, 0], atol=1e-6)
        np.testing.assert_allclose(scores, binary_model.predict(X, verbose=0)[:, 0], atol=1e-5)
    assert scorer.tracing_count == 1


def test_float64_input_is_cast_not_retraced(binary_model: Any) -> None:
    scorer = Scorer(binary_model, WIDTH)
    X = rows(4)
    np.testing.assert_allclose(scorer(X.astype(np.float64)), scorer(X), atol=1e-7)
    assert scorer.tracing_count == 1


def test_multiclass_shape(multiclass_model: Any) -> None:
    scorer = Scorer(multiclass_model, WIDTH)
    assert scorer.runtime == "litert"
    X = rows(9)
    scores = scorer.warm_up(X)
    assert scores.shape == (9, 3) and not scorer.binary
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(scores, multiclass_model(X, training=False).numpy(), atol=1e-6)
    assert scorer(rows(0)).shape == (0, 3)


def test_empty_batch_does_not_call_the_model(binary_model: Any) -> None:
    scorer = Scorer(binary_model, WIDTH)

    def boom(_: object) -> None:
        raise AssertionError("the model was called for an empty batch")

    scorer._run = boom
    empty = scorer(np.empty((0, WIDTH), dtype=np.float32))
    assert empty.shape == (0,) and empty.dtype == np.float64


def test_a_model_that_does_not_convert_is_scored_by_the_function(
    binary_model: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse(model: Any) -> bytes:
        raise RuntimeError("op not supported")

    monkeypatch.setattr(scoring, "compile_flatbuffer", refuse)
    scorer = Scorer(binary_model, WIDTH)
    assert scorer.runtime == "tensorflow" and scorer.flatbuffer is None
    assert "does not convert: RuntimeError: op not supported" in caplog.text
    X = rows(5)
    np.testing.assert_allclose(scorer(X), binary_model(X, training=False).numpy()[:, 0], atol=1e-6)


@pytest.mark.parametrize(
    ("wrong", "why"),
    [
        (lambda X: np.zeros((len(X), 1), np.float32), "disagrees with the function by"),
        (lambda X: np.full((len(X), 1), np.nan, np.float32), "disagrees with the function by inf"),
        (lambda X: np.zeros((len(X), 2), np.float32), r"gives shape \(64, 2\), the function \(64, 1\)"),
    ],
)
def test_a_compiled_model_that_disagrees_is_not_used(
    binary_model: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, wrong: Any, why: str
) -> None:
    monkeypatch.setattr(scoring.LiteRTScorer, "run", lambda self, X: wrong(X))
    scorer = Scorer(binary_model, WIDTH)
    assert scorer.runtime == "tensorflow" and scorer.flatbuffer is None
    assert caplog.records and re.search(why, caplog.text)
    X = rows(5)
    np.testing.assert_allclose(scorer(X), binary_model(X, training=False).numpy()[:, 0], atol=1e-6)


def test_unknown_runtime_is_refused(binary_model: Any) -> None:
    with pytest.raises(ValueError, match="runtime should be 'litert' or 'tensorflow', found 'onnx'"):
        Scorer(binary_model, WIDTH, runtime="onnx")


def test_wrong_width_is_refused(binary_model: Any) -> None:
    with pytest.raises(IntegrityError, match="expects 5 input columns, the preprocessing gives 4"):
        Scorer(binary_model, 4)
    scorer = Scorer(binary_model, WIDTH)
    with pytest.raises(DataError, match=r"expected a batch of shape \(n, 5\), found \(3, 4\)"):
        scorer(np.zeros((3, 4), dtype=np.float32))


def test_warm_up_detects_non_finite_scores(keras: Any) -> None:
    model = mlp(keras)
    model.set_weights([np.full_like(weights, np.nan) for weights in model.get_weights()])
    scorer = Scorer(model, WIDTH)
    with pytest.raises(IntegrityError, match="expected finite scores, found 6 non-finite of 6"):
        scorer.warm_up(rows(6))


def test_warm_up_refuses_a_head_that_is_not_probabilities(keras: Any) -> None:
    scorer = Scorer(mlp(keras, units=1, activation="linear"), WIDTH)
    with pytest.raises(IntegrityError, match=r"expected probabilities in \[0, 1\]"):
        scorer.warm_up(rows(200) * 50)


def test_load_keras_round_trip(binary_model: Any, tmp_path: Path) -> None:
    path = tmp_path / "model.keras"
    binary_model.save(path)
    loaded = load_keras(path)
    X = rows(16)
    np.testing.assert_allclose(Scorer(loaded, WIDTH)(X), Scorer(binary_model, WIDTH)(X), atol=1e-7)


def test_lambda_layer_is_refused_at_load(keras: Any, tmp_path: Path) -> None:
    model = keras.Sequential(
        [keras.Input((WIDTH,)), keras.layers.Lambda(lambda x: x * 2, name="doubler"), keras.layers.Dense(1)]
    )
    path = tmp_path / "model.keras"
    model.save(path)
    with pytest.raises(IntegrityError, match=r"refused model file 'model.keras'.*Lambda 'doubler'"):
        load_keras(path)


def test_safe_mode_refusal_is_translated(keras: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Even past the archive scan (here disabled), Keras safe mode's own refusal becomes an IntegrityError."""
    import driftline.modelio as modelio

    model = keras.Sequential(
        [keras.Input((WIDTH,)), keras.layers.Lambda(lambda x: x + 1), keras.layers.Dense(1)]
    )
    path = tmp_path / "model.keras"
    model.save(path)
    monkeypatch.setattr(modelio, "_code_objects", lambda *_: iter(()))
    with pytest.raises(IntegrityError, match="Keras safe mode found code inside it"):
        load_keras(path)


@pytest.mark.parametrize(
    "name", ["model.h5", "model.hdf5", "model.pkl", "model.pickle", "model.joblib", "model.txt"]
)
def test_refused_suffixes_at_load(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"anything")
    with pytest.raises(IntegrityError, match=r"refused (model )?file"):
        load_keras(path)


def test_registered_model_loads_verifies_and_warms_up(binary_model: Any, tmp_path: Path) -> None:
    """The processor's path in miniature: register, verify, load, warm up, score."""
    saved = tmp_path / "model.keras"
    binary_model.save(saved)
    registry = Registry(tmp_path / "registry", "tiny")
    version = registry.register({"model.keras": saved, "metrics.json": b'{"roc_auc": 0.5}'})
    registry.promote(version)
    registry.verify(version)
    scorer = Scorer(load_keras(registry.path(version) / "model.keras"), WIDTH)
    assert scorer.warm_up(rows(32)).shape == (32,)


def test_the_workers_scorer_runs_the_flatbuffer_alone_and_refuses_what_it_cannot_serve(binary_model: Any) -> None:
    flatbuffer = scoring.compile_flatbuffer(binary_model)
    scorer = LiteRTScorer(flatbuffer, WIDTH)
    X = rows(7)
    np.testing.assert_allclose(scorer(X), binary_model(X, training=False).numpy()[:, 0], atol=1e-6)
    assert scorer.warm_up(X).shape == (7,) and scorer(rows(0)).shape == (0,)
    with pytest.raises(IntegrityError, match="the LiteRT flatbuffer cannot be loaded"):
        LiteRTScorer(b"not a flatbuffer", WIDTH)
    with pytest.raises(IntegrityError, match=r"takes input \(1, 5\), the preprocessing gives \(n, 4\)"):
        LiteRTScorer(flatbuffer, 4)
