"""The image model: the CNN over flat pixel columns, the image recipe, its LiteRT compilation and its ONNX copy
(Reshape, Conv2D, MaxPooling2D, Flatten, Dropout), checked on small random CNNs and on scikit-learn's digits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from driftline.bundle import ModelBundle
from driftline.contract import builtin_contract
from driftline.errors import DataError, IntegrityError
from driftline.golden import TOLERANCE
from driftline.modelio import require_keras
from driftline.onnx_export import onnx_bytes
from driftline.onnx_scorer import OnnxScorer
from driftline.registry import Registry
from driftline.scoring import LITERT_TOLERANCE, Scorer
from driftline.sources.digits.source import DigitsSource
from trainer.release import register_candidate
from trainer.search import SearchConfig, search
from trainer.training import IMAGE_RECIPE, TrainConfig, build_model, recipe

DIGITS = builtin_contract("digits")
SMALL = recipe(DIGITS, TrainConfig(conv_filters=(8, 16), hidden_layers=(32,), learning_rate=3e-3, batch_size=32,
                                   max_epochs=5, seed=3))  # fmt: skip


def digits(n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits as the model sees them (DESIGN of issue 21, item 7): 0..16 scaled to 0..255,
    resized to 20x20 (bilinear) and centred in 28x28, then the preprocessing's /255 and row-major flattening."""
    from sklearn.datasets import load_digits

    data = load_digits()
    images = data.images[:n]
    pixels = np.zeros((len(images), 28, 28), dtype=np.uint8)
    for i, image in enumerate(images):
        small = Image.fromarray(np.clip(image * 255.0 / 16.0, 0, 255).astype(np.uint8))
        pixels[i, 4:24, 4:24] = np.asarray(small.resize((20, 20), Image.Resampling.BILINEAR))
    return (pixels.astype(np.float32) / 255.0).reshape(len(images), 784), data.target[: len(images)]


@pytest.fixture(scope="module")
def trained() -> tuple[Any, np.ndarray, np.ndarray]:
    """A small CNN fitted for a few epochs on 1,000 digits, and 300 held-out ones."""
    keras = require_keras()
    X, y = digits(1300)
    keras.utils.set_random_seed(SMALL.seed)
    model = build_model(784, 10, SMALL, image=(28, 28, 1))
    model.fit(X[:1000], y[:1000], epochs=SMALL.max_epochs, batch_size=SMALL.batch_size, verbose=0)
    return model, X[1000:], y[1000:]


def random_weights(model: Any, seed: int) -> Any:
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        weight.assign(rng.normal(scale=0.3, size=weight.shape).astype(np.float32))
    return model


def test_an_image_contract_trains_the_cnn_with_its_recipe_and_explicit_settings_win() -> None:
    config = recipe(DIGITS, TrainConfig(seed=11, max_epochs=9, dropout=0.3))
    assert (config.seed, config.max_epochs, config.dropout) == (11, 9, 0.3)
    assert all(getattr(config, key) == value for key, value in IMAGE_RECIPE.items() if key != "dropout")
    assert config.preprocessing.numeric_encoding is None and config.l1_input == 0.0
    tabular = builtin_contract("agrawal")
    assert recipe(tabular, TrainConfig(seed=11)) == TrainConfig(seed=11)  # the tabular path is untouched
    keras = require_keras()
    model = build_model(784, 10, config, image=(28, 28, 1))
    kinds = [type(layer).__name__ for layer in model.layers[1:]]
    assert kinds == ["Reshape", "Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Flatten", "Dense", "Dropout",
                     "Dense"]  # fmt: skip
    assert [layer.filters for layer in model.layers if isinstance(layer, keras.layers.Conv2D)] == [32, 64]
    assert model.output.shape[-1] == 10 and model.layers[-1].get_config()["activation"] == "softmax"
    with pytest.raises(DataError, match=r"image of shape \(28, 28, 1\) has 784 values, the input 785"):
        build_model(785, 10, config, image=(28, 28, 1))


def test_the_cnn_learns_digits(trained: tuple[Any, np.ndarray, np.ndarray]) -> None:
    model, X, y = trained
    accuracy = float(np.mean(np.asarray(model(X, training=False)).argmax(axis=1) == y))
    assert accuracy >= 0.9  # a small CNN after 5 epochs on 1,000 images; chance is 0.1


def test_the_cnn_compiles_to_litert_and_agrees_with_the_function(trained: tuple[Any, np.ndarray, np.ndarray]) -> None:
    model, X, _ = trained
    scorer = Scorer(model, 784)
    assert scorer.runtime == "litert" and scorer.flatbuffer is not None
    assert np.abs(scorer(X) - scorer.reference(X)).max() <= LITERT_TOLERANCE


def test_the_digits_cnn_as_onnx_scores_like_keras_and_is_the_same_bytes_every_time(
    trained: tuple[Any, np.ndarray, np.ndarray],
) -> None:
    model, X, _ = trained
    data = onnx_bytes(model)
    expected = np.asarray(model(X, training=False), dtype=np.float64)
    assert np.abs(OnnxScorer(data, 784)(X) - expected).max() <= TOLERANCE
    assert onnx_bytes(model) == data


@pytest.mark.parametrize(
    ("shape", "layers"),
    [
        ((6, 5, 1), [("conv", 4, (3, 3), (1, 1), "valid", "relu"), ("pool", (2, 2), None, "valid")]),
        ((7, 9, 3), [("conv", 5, (3, 2), (2, 3), "same", "relu"), ("pool", (2, 2), (1, 2), "same"),
                     ("conv", 3, (2, 2), (1, 1), "same", "linear")]),
        ((8, 8, 1), [("conv", 2, (3, 3), (2, 2), "valid", "sigmoid"), ("pool", (3, 3), (1, 1), "same")]),
    ],
)
def test_small_random_cnns_as_onnx_score_like_keras(shape: tuple[int, int, int], layers: list[tuple[Any, ...]]) -> None:
    """Random weights of a visible scale, so a mistake in the kernel's layout, the padding or the flatten order
    moves the outputs far beyond the tolerance."""
    keras = require_keras()
    width = int(np.prod(shape))
    x = inputs = keras.Input(shape=(width,))
    x = keras.layers.Reshape(shape)(x)
    for layer in layers:
        if layer[0] == "conv":
            _, filters, kernel, strides, padding, activation = layer
            x = keras.layers.Conv2D(filters, kernel, strides=strides, padding=padding, activation=activation)(x)
        else:
            _, pool, strides, padding = layer
            x = keras.layers.MaxPooling2D(pool, strides=strides, padding=padding)(x)
    x = keras.layers.Dropout(0.5)(keras.layers.Flatten()(x))
    model = random_weights(keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x)), seed=len(layers))
    X = np.random.default_rng(1).normal(size=(40, width)).astype(np.float32)
    expected = np.asarray(model(X, training=False), dtype=np.float64)
    assert expected.std() > 0.05  # the outputs differ from row to row: the comparison can tell a shuffle
    assert np.abs(OnnxScorer(onnx_bytes(model), width)(X) - expected).max() <= TOLERANCE


def test_image_layers_it_cannot_map_are_refused_by_name() -> None:
    keras = require_keras()
    inputs = keras.Input(shape=(16,))
    image = keras.layers.Reshape((4, 4, 1))(inputs)

    def head(x: Any) -> Any:
        return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(x)))

    with pytest.raises(IntegrityError, match=r"found layer 'avg' of type AveragePooling2D"):
        onnx_bytes(head(keras.layers.AveragePooling2D(2, name="avg")(image)))
    with pytest.raises(IntegrityError, match=r"layer 'tanh_conv' has groups 1 and activation 'tanh'"):
        onnx_bytes(head(keras.layers.Conv2D(2, 3, activation="tanh", name="tanh_conv")(image)))
    pictures = keras.Input(shape=(4, 4, 1))
    with pytest.raises(IntegrityError, match=r"flat \(batch, width\) input, found \(None, 4, 4, 1\)"):
        onnx_bytes(keras.Model(pictures, keras.layers.Dense(2)(keras.layers.Flatten()(pictures))))
    with pytest.raises(IntegrityError, match=r"Dense layers on flat inputs; layer 'dense_on_image'"):
        onnx_bytes(keras.Model(inputs, keras.layers.Dense(2, name="dense_on_image")(image)))


def test_a_search_on_the_digits_stream_trains_and_releases_a_cnn(tmp_path: Path) -> None:
    """The retrain path's entry (trainer.search) on an image contract: the image recipe and its one trial, then a
    release whose LiteRT flatbuffer and ONNX copy both reproduce the golden records."""
    source = DigitsSource(seed=5)
    quick = TrainConfig(conv_filters=(8, 16), hidden_layers=(32,), max_epochs=3, seed=3)
    candidate = search(source.frame(800), source.contract, quick, SearchConfig(budget_seconds=600))
    assert [trial["overrides"] for trial in candidate.search["trials"]] == [{}]  # IMAGE_TRIALS, not the MLP's four
    assert (candidate.config.batch_size, candidate.config.l1_input, candidate.config.conv_filters) == (32, 0.0, (8, 16))
    assert candidate.preprocessor.width == 784 and candidate.scorer.runtime == "litert"
    assert candidate.metrics["accuracy"] > 0.5  # three epochs of a small CNN on 640 images; chance is 0.1
    registry = Registry(tmp_path, "digits")
    version = register_candidate(registry, candidate, source_description="test", promote=False)
    files = registry.verify(version).files
    assert {"model.onnx", "model.tflite", "golden.json"} <= set(files)
    bundle = ModelBundle.load(registry, version)  # as a worker loads it: hashes, golden records through LiteRT
    sample = candidate.profile.sample_columns()
    assert np.abs(bundle.predict(sample).scores - candidate.scorer.reference(
        candidate.preprocessor.transform(sample))).max() <= TOLERANCE  # fmt: skip
    # a retrain's warm start: the champion CNN's preprocessor and weights, as a second trial
    again = search(DigitsSource(seed=6).frame(800), source.contract, quick,
                   SearchConfig(budget_seconds=600, warm_start=True), champion=(candidate.preprocessor,
                   candidate.model))  # fmt: skip
    assert [trial["overrides"] for trial in again.search["trials"]] == [{}, {"warm_start": True}]
    assert all("validation" in trial for trial in again.search["trials"])  # both fitted
