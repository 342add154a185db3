"""Drift for images (issue 21): per-image statistics binned like numeric features, a warm-up sample of PNG text, and
the prediction-confidence histogram every profile now carries (absent from profiles written before it)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from driftline.contract import Contract, builtin_contract
from driftline.drift import DriftWindow
from driftline.errors import DataError
from driftline.images import decode_image
from driftline.profile import CONFIDENCE, PREDICTION, Profile
from driftline.profile.image_stats import image_statistics, statistic_names
from driftline.sources.digits import DigitsSource

DIGITS = builtin_contract("digits")
STATS = ("image.mean_intensity", "image.ink_ratio", "image.contrast")
TABULAR = Contract.model_validate(
    {"name": "test", "features": [{"name": "x", "kind": "numeric"}, {"name": "car", "kind": "categorical"}]}
)


def _images(n: int, seed: int = 0, size: int = 28) -> np.ndarray:
    """Digit-like pictures: a black background with a bright blob of random size and place, as an object column."""
    rng = np.random.default_rng(seed)
    out = np.empty(n, dtype=object)
    yy, xx = np.mgrid[0:size, 0:size]
    for i in range(n):
        cy, cx = rng.uniform(size * 0.3, size * 0.7, 2)
        radius = rng.uniform(size * 0.12, size * 0.3)
        blob = np.clip(255 * (1.4 - np.hypot(yy - cy, xx - cx) / radius), 0, 255)
        noise = rng.normal(0, 6, (size, size))
        out[i] = np.clip(blob + noise, 0, 255).astype(np.uint8)[:, :, None]
    return out


def _multiclass_scores(n: int, seed: int = 0, sharpness: float = 4.0) -> np.ndarray:
    """Softmax of random logits: larger ``sharpness`` means more confident predictions."""
    logits = np.random.default_rng(seed).normal(0, 1, (n, 10)) * sharpness
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _profile(n: int = 2000) -> Profile:
    return Profile.fit({"image": _images(n)}, DIGITS, _multiclass_scores(n))


# ------------------------------------------------------------------------------------------------- image statistics


def test_statistics_of_known_images() -> None:
    black = np.zeros((4, 4, 1), dtype=np.uint8)
    white = np.full((4, 4, 1), 255, dtype=np.uint8)
    half = np.zeros((4, 4, 1), dtype=np.uint8)
    half[:2] = 255  # the top half white: mean 0.5, ink 0.5, std 0.5
    threshold = np.array([[127, 128]], dtype=np.uint8)[:, :, None]  # 127 is not ink, 128 is
    big = np.zeros((10, 6, 1), dtype=np.uint8)
    column = np.empty(5, dtype=object)
    column[:] = [black, white, half, threshold, big]
    stats = image_statistics(column, "image")
    assert tuple(stats) == STATS == statistic_names("image")
    np.testing.assert_allclose(stats["image.mean_intensity"], [0, 1, 0.5, 127.5 / 255, 0])
    np.testing.assert_allclose(stats["image.ink_ratio"], [0, 1, 0.5, 0.5, 0])
    np.testing.assert_allclose(stats["image.contrast"], [0, 0, 0.5, 0.5 / 255, 0])


def test_statistics_of_rgb_images_of_mixed_sizes_match_one_by_one() -> None:
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in [(5, 7), (28, 28), (5, 7), (1, 1)]]
    together = image_statistics(images, "pic")
    for i, image in enumerate(images):
        alone = image_statistics([image], "pic")
        for name in together:
            assert together[name][i] == pytest.approx(alone[name][0])
    assert together["pic.mean_intensity"][1] == pytest.approx(images[1].mean() / 255)
    assert together["pic.contrast"][1] == pytest.approx(images[1].std() / 255)


@pytest.mark.parametrize(
    ("value", "found"),
    [(np.zeros((4, 4, 1), dtype=np.float32), "float32"), (np.zeros((4, 4), dtype=np.uint8), "(4, 4)"),
     (None, "NoneType"), (np.zeros((0, 4, 1), dtype=np.uint8), "(0, 4, 1)")],
)  # fmt: skip
def test_statistics_refuse_what_is_not_a_decoded_image(value: object, found: str) -> None:
    column = np.empty(2, dtype=object)
    column[:] = [np.zeros((4, 4, 1), dtype=np.uint8), value]
    with pytest.raises(DataError, match=rf"expected decoded uint8 images.*{found}.*row 1"):
        image_statistics(column, "image")


# -------------------------------------------------------------------------------------------------- the image profile


def test_an_image_profile_bins_three_statistics_with_an_empty_missing_bin() -> None:
    profile = _profile()
    assert profile.feature_names == STATS and profile.column_names == ("image",)
    assert profile.spec.image is not None and profile.spec.image.name == "image"
    for f in profile.spec.features:
        assert f.kind == "numeric" and 5 <= len(f.edges) <= 9
        assert sum(f.counts) == 2000 and f.counts[-1] == 0  # no image has a missing statistic
    counts = profile.counts({"image": _images(300, seed=5)}, _multiclass_scores(300, seed=5))
    assert set(counts) == {*STATS, PREDICTION, CONFIDENCE}
    for vector in counts.values():
        assert vector.dtype == np.int64 and vector.sum() == 300
    again = profile.counts({"image": _images(2000)}, _multiclass_scores(2000))  # training lands on its counts
    for f in profile.spec.features:
        np.testing.assert_array_equal(again[f.name], f.counts)


def test_images_of_another_size_are_counted_without_a_resize() -> None:
    profile = _profile()
    small = _images(50, seed=2, size=14)
    counts = profile.counts({"image": small}, _multiclass_scores(50))
    assert all(counts[name].sum() == 50 for name in STATS)


def test_counts_need_the_image_column() -> None:
    with pytest.raises(DataError, match=r"columns \['image'\] are missing"):
        _profile(200).counts({"x": np.zeros(3)}, _multiclass_scores(3))


def test_inverted_images_drift_on_mean_intensity_and_fresh_ones_do_not() -> None:
    profile = _profile()
    window = DriftWindow(profile, size=1000, min_records=1000)
    fresh = _images(1000, seed=7)
    window.add(profile.counts({"image": fresh}, _multiclass_scores(1000, seed=7)))
    calm = window.snapshot()
    assert calm is not None and max(calm.feature_psi.values()) < 0.05, calm.feature_psi
    inverted = np.empty(1000, dtype=object)
    inverted[:] = [255 - image for image in fresh]
    window.reset()
    window.add(profile.counts({"image": inverted}, _multiclass_scores(1000, seed=7)))
    drifted = window.snapshot()
    assert drifted is not None and drifted.feature_psi["image.mean_intensity"] > 1.0, drifted.feature_psi
    assert drifted.feature_psi["image.ink_ratio"] > 1.0
    assert drifted.missing_ratio == dict.fromkeys(STATS, 0.0) and drifted.unknown_ratio == {}


def test_the_sample_is_at_most_32_png_images_that_decode_to_the_training_pixels() -> None:
    images = _images(500, seed=3)
    profile = Profile.fit({"image": images}, DIGITS, _multiclass_scores(500), sample_size=256, seed=4)
    texts = profile.spec.sample["image"]
    assert len(texts) == 32 and all(isinstance(t, str) for t in texts)
    columns = profile.sample_columns()
    assert set(columns) == {"image"} and columns["image"].dtype == object and columns["image"].shape == (32,)
    rows = np.sort(np.random.default_rng(4).choice(500, size=32, replace=False))  # the sample's seeded rows
    for decoded, row in zip(columns["image"], rows, strict=True):
        assert decoded.dtype == np.uint8 and decoded.shape == (28, 28, 1)
        np.testing.assert_array_equal(decoded, images[row])
    np.testing.assert_array_equal(decode_image(texts[0], DIGITS.features[0]), columns["image"][0])
    assert len(Profile.fit({"image": images[:5]}, DIGITS, _multiclass_scores(5)).spec.sample["image"]) == 5


def test_an_image_profile_round_trips_as_canonical_json(tmp_path: Path) -> None:
    profile = _profile(500)
    path = tmp_path / "profile.json"
    profile.save(path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == profile.fingerprint
    loaded = Profile.load(path)
    assert loaded == profile and loaded.fingerprint == profile.fingerprint
    batch, scores = {"image": _images(100, seed=8)}, _multiclass_scores(100, seed=8)
    for name, vector in loaded.counts(batch, scores).items():
        np.testing.assert_array_equal(vector, profile.counts(batch, scores)[name])
    data = json.loads(path.read_text())
    assert data["image"] == {"name": "image", "height": 28, "width": 28, "channels": 1, "max_pixels": 1_000_000}


def test_an_image_profile_is_checked_on_load() -> None:
    data = _profile(300).to_dict()
    data["features"][0]["name"] = "image.brightness"
    with pytest.raises(DataError, match="numeric statistics"):
        Profile.from_dict(data)
    data = _profile(300).to_dict()
    data["sample"]["image"][0] = 0.5
    with pytest.raises(DataError, match="base64 PNG"):
        Profile.from_dict(data)
    data = _profile(300).to_dict()
    data["sample"]["image"] = ["bm90IGEgcG5n"] * 3  # base64 of "not a png"
    with pytest.raises(DataError, match="sample image 0 does not decode"):
        Profile.from_dict(data).sample_columns()


# ------------------------------------------------------------------------------------------- prediction confidence


def test_confidence_bins_are_deciles_of_the_largest_probability() -> None:
    profile = _profile()
    confidence = profile.spec.confidence
    assert confidence is not None and len(confidence.edges) == 9 and len(confidence.counts) == 10
    np.testing.assert_allclose(confidence.fractions, 0.1, atol=0.002)
    assert min(confidence.edges) > 0.1  # a largest probability of ten classes is at least 0.1


def test_binary_confidence_folds_the_score_onto_its_larger_side() -> None:
    rng = np.random.default_rng(0)
    columns = {"x": rng.normal(size=1000), "car": rng.choice(np.array(["a", "b"], dtype=object), 1000)}
    scores = rng.beta(2, 5, 1000)
    profile = Profile.fit(columns, TABULAR, scores)
    assert profile.spec.confidence is not None and min(profile.spec.confidence.edges) >= 0.5
    mirrored = profile.counts(columns, 1.0 - scores)  # p and 1 - p are equally confident
    np.testing.assert_array_equal(mirrored[CONFIDENCE], profile.spec.confidence.counts)


def test_confidence_psi_rises_when_scores_flatten() -> None:
    profile = _profile()
    window = DriftWindow(profile, size=1000, min_records=1000)
    images = {"image": _images(1000, seed=9)}
    window.add(profile.counts(images, _multiclass_scores(1000, seed=9)))
    calm = window.snapshot()
    assert calm is not None and calm.confidence_psi is not None and calm.confidence_psi < 0.05
    window.reset()
    window.add(profile.counts(images, _multiclass_scores(1000, seed=9, sharpness=1.0)))  # unsure predictions
    flat = window.snapshot()
    assert flat is not None and flat.confidence_psi is not None and flat.confidence_psi > 1.0
    assert flat.confidence_psi > 10 * calm.confidence_psi


# A tabular profile.json written before confidence bins and images existed (commit 4147bef's code).
_OLD_PROFILE = Path(__file__).parent / "data" / "profile_v1.json"


def test_a_profile_written_before_confidence_loads_and_keeps_its_bytes(tmp_path: Path) -> None:
    old = _OLD_PROFILE.read_bytes()
    profile = Profile.load(_OLD_PROFILE)
    assert profile.spec.confidence is None and profile.spec.image is None
    assert profile.fingerprint == hashlib.sha256(old).hexdigest()
    profile.save(tmp_path / "again.json")
    assert (tmp_path / "again.json").read_bytes() == old
    rng = np.random.default_rng(0)
    counts = profile.counts({"x": rng.normal(size=40), "car": np.array(["1", "2"] * 20, dtype=object)},
                            rng.beta(2, 5, 40))  # fmt: skip
    assert set(counts) == {"x", "car", PREDICTION}
    window = DriftWindow(profile, size=40, min_records=40)
    window.add(counts)
    snapshot = window.snapshot()
    assert snapshot is not None and snapshot.confidence_psi is None


# ------------------------------------------------------------------------------------ the digits scenario's drifts


def _digits(seed: int, drift: str | None, n: int = 3000) -> np.ndarray:
    stack, _ = DigitsSource(seed=seed, drift=drift).pixels(n)
    out = np.empty(n, dtype=object)
    out[:] = list(stack[:, :, :, None])
    return out


@pytest.fixture(scope="module")
def digits_profile() -> Profile:
    return Profile.fit({"image": _digits(1, None)}, DIGITS, np.full((3000, 10), 0.1))


@pytest.mark.parametrize(
    ("drift", "moved"),
    [(None, ()), ("rotation:45@0", ()),  # a turned digit keeps its ink: prediction and confidence drift see it
     ("thickness:2@0", STATS), ("inversion@0", ("image.mean_intensity", "image.ink_ratio")),
     ("noise:60@0", STATS), ("style@0", STATS)],
)  # fmt: skip
def test_the_digits_scenarios_drifts_on_the_image_statistics(
    digits_profile: Profile, drift: str | None, moved: tuple[str, ...]
) -> None:
    profile, uniform = digits_profile, np.full((3000, 10), 0.1)
    window = DriftWindow(profile, size=3000, min_records=3000)
    window.add(profile.counts({"image": _digits(2, drift)}, uniform))
    snapshot = window.snapshot()
    assert snapshot is not None
    for name, value in snapshot.feature_psi.items():
        assert (value > 0.25) if name in moved else (value < 0.05), (name, snapshot.feature_psi)
