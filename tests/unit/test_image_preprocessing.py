"""Persisted image preprocessing: images resized to the fitted size only when they differ, scaled by 255, flattened
row-major; the same X to the bit from a training frame and from the stream."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pytest

from driftline.contract import Contract, builtin_contract
from driftline.errors import PreprocessingError
from driftline.images import encode_png
from driftline.preprocessing import ImageParams, Preprocessor, columns_from_frame
from driftline.sources.base import LabeledRecord, frame_from_batch, to_frame
from driftline.validation import Validator

DIGITS = builtin_contract("digits")
RGB = Contract.model_validate(
    {
        "name": "rgb",
        "label": {"name": "label", "task": "multiclass", "classes": ["a", "b", "c"]},
        "features": [{"name": "photo", "kind": "image", "nullable": False, "height": 6, "width": 5, "channels": 3}],
    }
)
DIGITS_JSON = (
    b'{"contract":"digits","features":[{"channels":1,"height":28,"kind":"image","name":"image","scale":255.0,'
    b'"width":28}],"format":"driftline.preprocessing","options":{"categorical_missing":"most_frequent",'
    b'"encoding":"onehot","fill_value":0.0,"numeric_impute":"median","scaling":"standard"},"version":1}'
)


def drawn(seed: int, size: int = 28) -> np.ndarray:
    """A ring of random centre and radius, white on black, as a handwritten "0" is."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:size, :size] / size
    cy, cx, radius = rng.uniform(0.4, 0.6), rng.uniform(0.4, 0.6), rng.uniform(0.2, 0.3)
    ring = np.clip(1 - np.abs(np.hypot(y - cy, x - cx) - radius) * 12, 0, 1)
    return (ring * 255).astype(np.uint8)[:, :, None]


def column(*images: object) -> np.ndarray:
    out = np.empty(len(images), dtype=object)
    for i, image in enumerate(images):
        out[i] = image
    return out


def fitted(contract: Contract = DIGITS) -> Preprocessor:
    feature = contract.features[0]
    return Preprocessor.fit({feature.name: column(np.zeros(feature.shape, np.uint8))}, contract)


def test_fit_takes_the_contract_size_and_names_every_pixel() -> None:
    pre = fitted()
    assert pre.spec.features == (ImageParams(name="image", height=28, width=28, channels=1, scale=255.0),)
    assert pre.width == 784 and pre.feature_names_out[0] == "image#0" and pre.feature_names_out[-1] == "image#783"


def test_save_load_round_trip_and_a_stable_fingerprint(tmp_path: Path) -> None:
    pre = fitted()
    pre.save(tmp_path / "preprocessing.json")
    data = (tmp_path / "preprocessing.json").read_bytes()
    assert data == DIGITS_JSON  # canonical bytes: a change here changes every image model's fingerprint
    loaded = Preprocessor.load(tmp_path / "preprocessing.json")
    assert loaded == pre and loaded.fingerprint == pre.fingerprint == hashlib.sha256(data).hexdigest()
    other = Preprocessor.fit({"image": column(drawn(1), drawn(2, 8))}, DIGITS)
    assert other.fingerprint == pre.fingerprint  # nothing of an image is fitted from data
    images = column(drawn(3), drawn(4, 11))
    assert np.array_equal(loaded.transform({"image": images}), pre.transform({"image": images}))


def test_an_image_of_the_fitted_size_is_scaled_and_flattened_as_it_is() -> None:
    images = [drawn(5), drawn(6)]
    X = fitted().transform({"image": column(*images)})
    assert X.dtype == np.float32 and X.shape == (2, 784)
    expected = np.stack(images).reshape(2, -1).astype(np.float32) / np.float32(255)
    assert np.array_equal(X, expected)


def test_rgb_pixels_flatten_row_major_height_width_channel() -> None:
    pixels = np.random.default_rng(7).integers(0, 256, (6, 5, 3), dtype=np.uint8)
    X = fitted(RGB).transform({"photo": column(pixels)})
    assert X.shape == (1, 90)
    i, j, k = 4, 2, 1
    assert X[0, (i * 5 + j) * 3 + k] == np.float32(pixels[i, j, k]) / np.float32(255)


@pytest.mark.parametrize("side", [8, 56, 29, 100])
def test_smaller_and_larger_images_are_resized_to_the_fitted_size(side: int) -> None:
    pre = fitted()
    grey = np.full((side, side, 1), 77, dtype=np.uint8)
    X = pre.transform({"image": column(grey, drawn(8, side))})
    assert X.shape == (2, 784) and X.min() >= 0.0 and X.max() <= 1.0
    assert np.all(X[0] == np.float32(77) / np.float32(255))  # bilinear keeps a flat image flat
    same, other = drawn(8).reshape(-1), drawn(9).reshape(-1)  # the same drawing at 28x28, and another one
    assert np.corrcoef(X[1], same)[0, 1] > 0.6 > 0.2 > np.corrcoef(X[1], other)[0, 1]


def test_values_stay_in_zero_to_one() -> None:
    rng = np.random.default_rng(9)
    images = [rng.integers(0, 256, (s, s, 1), dtype=np.uint8) for s in (28, 8, 56, 28)]
    images += [np.zeros((28, 28, 1), np.uint8), np.full((13, 40, 1), 255, np.uint8)]
    X, stats = fitted().transform_with_stats({"image": column(*images)})
    assert X.min() == 0.0 and X.max() == 1.0
    assert stats.rows == 6 and stats.missing == {"image": 0} and stats.unknown == {}


def test_micro_batch_boundaries_do_not_change_a_row() -> None:
    images = [drawn(i, 28 if i % 3 else 14 + i) for i in range(9)]
    pre = fitted()
    whole = pre.transform({"image": column(*images)})
    one_by_one = np.vstack([pre.transform({"image": column(image)}) for image in images])
    assert np.array_equal(whole, one_by_one)
    assert pre.transform({"image": column()}).shape == (0, 784)


@pytest.mark.parametrize(
    ("value", "found"),
    [(None, "null"), (np.zeros((28, 28), np.uint8), "shaped (28, 28)"),
     (np.zeros((28, 28, 3), np.uint8), "(28, 28, 3)"), (np.zeros((28, 28, 1), np.float32), "float32"),
     ("iVBORw0KGgo=", "a str")],
)  # fmt: skip
def test_a_column_that_does_not_hold_decoded_images_is_a_clear_error(value: object, found: str) -> None:
    with pytest.raises(PreprocessingError, match=re.escape(found)) as caught:
        fitted().transform({"image": column(drawn(10), value)})
    assert "\n" not in str(caught.value) and "row 1" in str(caught.value)


def test_an_image_feature_beside_another_is_not_a_valid_spec() -> None:
    data = orjson.loads(DIGITS_JSON)
    data["features"].append({"name": "x", "kind": "numeric", "impute": 0.0, "center": 0.0, "scale": 1.0})
    with pytest.raises(PreprocessingError, match="image feature must be the only feature"):
        Preprocessor.from_dict(data)
    data["features"] = [{**data["features"][0], "channels": 2}]
    with pytest.raises(PreprocessingError, match="channels"):
        Preprocessor.from_dict(data)


# -- train/serve parity -------------------------------------------------------------------------------------


def labeled(n: int) -> list[LabeledRecord]:
    """Digit records as a source gives them: PNGs of mixed sizes (most at the contract's), labels apart."""
    sizes = (28, 28, 28, 8, 56, 20)
    return [
        LabeledRecord({"id": f"d-{i}", "event_time": 1_767_225_600_000 + i,
                       "image": encode_png(drawn(i, sizes[i % 6]))}, str(i % 10))
        for i in range(n)
    ]  # fmt: skip


def test_frame_and_stream_transform_to_the_bit(tmp_path: Path) -> None:
    records = labeled(60)
    frame = to_frame(records, DIGITS)
    assert frame["image"].dtype == object and frame["image"].iloc[4].shape == (56, 56, 1)
    train, serve = frame.iloc[:40], frame.iloc[40:]
    pre = Preprocessor.fit(columns_from_frame(train, DIGITS), DIGITS)
    pre.save(tmp_path / "preprocessing.json")
    loaded = Preprocessor.load(tmp_path / "preprocessing.json")
    validator = Validator(DIGITS)
    for part, chunk in ((train, records[:40]), (serve, records[40:])):
        from_frame = pre.transform(columns_from_frame(part, DIGITS))
        batch, rejections = validator.validate_batch([orjson.dumps(r.record) for r in chunk])
        assert not rejections
        from_stream = loaded.transform(batch.columns)
        assert from_frame.dtype == np.float32 and from_frame.shape == (len(part), 784)
        assert np.array_equal(from_frame, from_stream)


def test_image_columns_cross_a_dataframe_unchanged() -> None:
    records = labeled(12)
    batch, _ = Validator(DIGITS).validate_batch([orjson.dumps(r.record) for r in records])
    frame = frame_from_batch(batch, [r.label for r in records], DIGITS)
    again = columns_from_frame(pd.concat([frame.iloc[:5], frame.iloc[5:]]), DIGITS)["image"]
    assert again.dtype == object and again.shape == (12,)
    assert all(a is b for a, b in zip(again, batch.columns["image"], strict=True))  # the very arrays, uncopied
    assert list(frame["label"]) == [str(i % 10) for i in range(12)]
