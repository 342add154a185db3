"""Golden records of an image model: reference images, black, white, smaller, larger, stretched and noisy images, as
the contract's encoding carries them; the Keras model's outputs reproduced through the validator, the persisted
preprocessing and the LiteRT flatbuffer; a version that loads, verifies and warms up as a worker loads it."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from driftline.bundle import FLATBUFFER_FILE, ModelBundle
from driftline.contract import Contract, builtin_contract
from driftline.errors import IntegrityError
from driftline.golden import GOLDEN_FILE, TOLERANCE, Golden, golden_records
from driftline.images import PNG_SIGNATURE, encode_png
from driftline.litert import LiteRTScorer
from driftline.preprocessing import ImageParams, Preprocessor, columns_from_frame
from driftline.preprocessing.pixels import resized
from driftline.profile import Profile
from driftline.registry import Registry
from driftline.scoring import Scorer
from driftline.sources.base import LabeledRecord, to_frame
from driftline.validation import Validator

keras = pytest.importorskip("keras")

DIGITS = builtin_contract("digits")
RESIZED = {"smaller": (14, 14, 1), "larger": (56, 56, 1), "stretched": (28, 56, 1)}


def drawn(seed: int, size: int = 28) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:size, :size] / size
    cy, cx, radius = rng.uniform(0.4, 0.6), rng.uniform(0.4, 0.6), rng.uniform(0.15, 0.3)
    return (np.clip(1 - np.abs(np.hypot(y - cy, x - cx) - radius) * 10, 0, 1) * 255).astype(np.uint8)[:, :, None]


def tiny_cnn(seed: int) -> Any:
    """The design's CNN in miniature: flat input, reshaped to the image, one convolution, softmax over 10."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((784,)), keras.layers.Reshape((28, 28, 1)), keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.MaxPooling2D(2), keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax"),
    ])  # fmt: skip


class Fitted:
    def __init__(self, seed: int = 1) -> None:
        sizes = (28, 28, 28, 20, 8, 40)
        records = [
            LabeledRecord({"id": f"d-{i}", "event_time": 1_767_225_600_000 + i,
                           "image": encode_png(drawn(i, sizes[i % 6]))}, str(i % 10))
            for i in range(48)
        ]  # fmt: skip
        columns = columns_from_frame(to_frame(records, DIGITS), DIGITS)
        self.preprocessor = Preprocessor.fit(columns, DIGITS)
        self.model = tiny_cnn(seed)
        self.scorer = Scorer(self.model, self.preprocessor.width)
        scores = self.scorer.reference(self.preprocessor.transform(columns))
        self.profile = Profile.fit(columns, DIGITS, scores, preprocessor=self.preprocessor)

    def reference(self, columns: Any) -> np.ndarray:
        return self.scorer.reference(self.preprocessor.transform(columns))


@pytest.fixture(scope="module")
def fitted() -> Fitted:
    return Fitted()


def decoded(record: dict[str, Any]) -> bytes:
    return base64.b64decode(record["image"])


def test_golden_image_cases_cover_every_branch(fitted: Fitted) -> None:
    cases = dict(golden_records(DIGITS, fitted.preprocessor, fitted.profile))
    references = [c for c in cases if c.startswith("reference[")]
    assert 1 <= len(references) <= 8
    assert {"black", "white", "salt_and_pepper", *RESIZED} <= set(cases)
    assert all(decoded(r).startswith(PNG_SIGNATURE) for r in cases.values())  # png contract: PNG records
    batch, rejections = Validator(DIGITS).validate_objects(cases.values())
    assert not rejections and len(batch) == len(cases)  # every golden record is a valid record
    images = dict(zip(cases, batch.columns["image"], strict=True))
    assert not images["black"].any() and (images["white"] == 255).all()
    assert {name: images[name].shape for name in RESIZED} == RESIZED  # both resize branches, and the fast path
    base = images["reference[0]"]  # the noise is sprinkled on it, at the fitted size
    if base.shape != (28, 28, 1):
        base = resized(base, ImageParams(name="image", height=28, width=28, channels=1))
    noisy = images["salt_and_pepper"]
    changed = noisy != base
    assert noisy.shape == (28, 28, 1) and 0.03 < changed.mean() < 0.2 and np.isin(noisy[changed], (0, 255)).all()
    assert len({r["id"] for r in cases.values()}) == len(cases)


def test_the_keras_outputs_are_reproduced_through_the_serving_path(fitted: Fitted, tmp_path: Path) -> None:
    golden = Golden.build(DIGITS, fitted.preprocessor, fitted.profile, fitted.reference)
    assert golden.expected.shape == (len(golden.cases), 10)
    assert np.allclose(golden.expected.sum(axis=1), 1.0)
    golden.save(tmp_path / GOLDEN_FILE)
    loaded = Golden.load(tmp_path / GOLDEN_FILE)
    assert loaded.records == golden.records
    validator = Validator(DIGITS)
    assert loaded.verify(validator, fitted.reference) == 0.0
    litert = LiteRTScorer(fitted.scorer.flatbuffer or b"", fitted.preprocessor.width)
    assert loaded.verify(validator, lambda c: litert(fitted.preprocessor.transform(c))) <= TOLERANCE
    other = Fitted(seed=2)  # the same data and preprocessing, other weights
    with pytest.raises(IntegrityError, match="golden records: the served model differs from the Keras model"):
        loaded.verify(validator, other.reference)


def test_a_raw_contract_gets_raw_cases_at_the_fitted_size() -> None:
    feature = {**DIGITS.features[0].model_dump(mode="json"), "encoding": "raw"}
    raw = Contract.model_validate({**DIGITS.model_dump(mode="json"), "name": "digits-raw", "features": [feature]})
    columns = {"image": np.array([None, None], dtype=object)}
    columns["image"][0], columns["image"][1] = drawn(3), drawn(4)
    pre = Preprocessor.fit(columns, raw)
    profile = Profile.fit(columns, raw, np.full((2, 10), 0.1), preprocessor=pre)
    cases = dict(golden_records(raw, pre, profile))
    assert not set(RESIZED) & set(cases) and {"black", "white", "salt_and_pepper"} <= set(cases)
    assert all(len(decoded(r)) == 784 for r in cases.values())
    batch, rejections = Validator(raw).validate_objects(cases.values())
    assert not rejections and np.array_equal(batch.columns["image"][0], drawn(3))


def test_an_rgb_contract_gets_rgb_cases() -> None:
    rgb = Contract.model_validate({**DIGITS.model_dump(mode="json"), "name": "rgb",
                                   "features": [{**DIGITS.features[0].model_dump(mode="json"), "channels": 3,
                                                 "height": 6, "width": 7}]})  # fmt: skip
    pixels = np.random.default_rng(5).integers(0, 256, (3, 6, 7, 3), dtype=np.uint8)
    columns = {"image": np.empty(3, dtype=object)}
    for i in range(3):
        columns["image"][i] = pixels[i]
    pre = Preprocessor.fit(columns, rgb)
    profile = Profile.fit(columns, rgb, np.full((3, 10), 0.1), preprocessor=pre)
    cases = dict(golden_records(rgb, pre, profile))
    batch, rejections = Validator(rgb).validate_objects(cases.values())
    assert not rejections
    shapes = {name: a.shape for name, a in zip(cases, batch.columns["image"], strict=True)}
    assert shapes["larger"] == (12, 14, 3) and shapes["smaller"] == (3, 4, 3) and shapes["white"] == (6, 7, 3)
    assert pre.transform(batch.columns).shape == (len(cases), 6 * 7 * 3)


def test_an_image_version_loads_verifies_and_warms_up_as_a_worker_loads_it(fitted: Fitted, tmp_path: Path) -> None:
    folder = tmp_path / "version"
    folder.mkdir()
    fitted.model.save(folder / "model.keras")
    (folder / FLATBUFFER_FILE).write_bytes(fitted.scorer.flatbuffer or b"")
    Golden.build(DIGITS, fitted.preprocessor, fitted.profile, fitted.reference).save(folder / GOLDEN_FILE)
    fitted.preprocessor.save(folder / "preprocessing.json")
    fitted.profile.save(folder / "profile.json")
    DIGITS.to_yaml(folder / "contract.yaml")
    (folder / "metrics.json").write_bytes(orjson.dumps({"accuracy": 0.1}))
    registry = Registry(tmp_path / "registry", "digits")
    version = registry.register({p.name: p for p in folder.iterdir()})
    bundle = ModelBundle.load(registry, version)  # hashes, LiteRT, golden records, warm-up on the PNG sample
    assert bundle.scorer.runtime == "litert"
    sample = bundle.profile.sample_columns()
    scored = bundle.predict(sample)
    assert scored.scores.shape == (len(sample["image"]), 10) and set(scored.labels) <= set(DIGITS.label.classes)
    assert np.abs(scored.scores - fitted.reference(sample)).max() <= TOLERANCE
