"""The drift reference: bins fixed on training data, count vectors for serving batches, a JSON artifact."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from driftline.contract import Contract
from driftline.errors import DataError
from driftline.preprocessing import Preprocessor
from driftline.profile import CONFIDENCE, PREDICTION, Profile

CONTRACT = Contract.model_validate(
    {
        "name": "test",
        "features": [
            {"name": "x", "kind": "numeric"},
            {"name": "spiky", "kind": "numeric"},
            {"name": "car", "kind": "categorical"},
        ],
    }
)
MULTICLASS = CONTRACT.model_copy(
    update={"label": CONTRACT.label.model_copy(update={"task": "multiclass", "classes": ("a", "b", "c")})}
)


def _columns(n: int, seed: int = 0, shift: float = 0.0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1.0, n)
    x[rng.random(n) < 0.05] = np.nan
    spiky = np.where(rng.random(n) < 0.7, 0.0, rng.integers(1, 4, n).astype(float))  # mostly zeros
    car = rng.choice(np.array(["1", "2", "3", None], dtype=object), n, p=[0.5, 0.3, 0.15, 0.05])
    return {"x": x, "spiky": spiky, "car": car}


def _scores(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).beta(2, 5, n)


def _profile(n: int = 2000) -> tuple[Profile, Preprocessor]:
    columns = _columns(n)
    pre = Preprocessor.fit(columns, CONTRACT)
    return Profile.fit(columns, CONTRACT, _scores(n), preprocessor=pre), pre


def test_numeric_bins_are_inner_training_deciles() -> None:
    profile, _ = _profile()
    x = profile.spec.features[0]
    assert len(x.edges) == 9 and list(x.edges) == sorted(x.edges)
    assert len(x.counts) == 11  # 10 value bins (-inf and +inf outer ones) + missing
    np.testing.assert_allclose(x.fractions[:10], 0.095, atol=0.01)  # deciles of the present 95%
    assert x.fractions[10] == pytest.approx(0.05, abs=0.01)
    assert sum(x.counts) == 2000 and sum(x.fractions) == pytest.approx(1.0)


def test_repeated_values_deduplicate_edges() -> None:
    profile, _ = _profile()
    spiky = profile.spec.features[1]
    assert len(set(spiky.edges)) == len(spiky.edges) < 9
    counts = profile.counts(
        {"x": np.ones(3), "spiky": np.array([-1.0, 0.0, 9.0]), "car": np.array(["1"] * 3)}, _scores(3)
    )
    assert (
        counts["spiky"][0] == 1 and counts["spiky"][-2] == 1
    )  # the open outer bins catch out-of-range values


def test_categorical_bins_use_the_preprocessor_set_plus_unknown_and_missing() -> None:
    profile, pre = _profile()
    car = profile.spec.features[2]
    assert car.categories == pre.categories("car") == ("1", "2", "3")
    assert car.counts[3] == 0 and car.counts[4] > 0  # no unknowns in training; some missing
    assert profile.spec.preprocessing_fingerprint == pre.fingerprint
    batch = {"x": np.ones(4), "spiky": np.zeros(4), "car": np.array(["1", "9", None, "9"], dtype=object)}
    np.testing.assert_array_equal(profile.counts(batch, _scores(4))["car"], [1, 0, 0, 2, 1])


def test_counts_sum_to_the_batch_size_and_match_the_fit() -> None:
    profile, _ = _profile()
    batch = _columns(512, seed=3, shift=0.5)
    counts = profile.counts(batch, _scores(512, seed=3))
    assert set(counts) == {"x", "spiky", "car", PREDICTION, CONFIDENCE}
    for vector in counts.values():
        assert vector.dtype == np.int64 and vector.sum() == 512
    again = profile.counts(_columns(2000), _scores(2000))  # the training data lands in its reference counts
    for f in profile.spec.features:
        np.testing.assert_array_equal(again[f.name], f.counts)
    np.testing.assert_array_equal(again[PREDICTION], profile.spec.prediction.counts)
    assert profile.spec.confidence is not None
    np.testing.assert_array_equal(again[CONFIDENCE], profile.spec.confidence.counts)


def test_binary_scores_get_ten_quantile_bins() -> None:
    profile, _ = _profile()
    p = profile.spec.prediction
    assert p.kind == "probability" and len(p.edges) == 9 and len(p.counts) == 10
    np.testing.assert_allclose(p.fractions, 0.1, atol=0.002)
    two_columns = np.column_stack([1 - _scores(5), _scores(5)])  # (n, 2) means column 1 is positive
    assert profile.counts(_columns(5), two_columns)[PREDICTION].sum() == 5


def test_multiclass_scores_bin_the_predicted_class() -> None:
    columns = _columns(6)
    scores = np.array(
        [[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [1, 0, 0]]
    )
    profile = Profile.fit(columns, MULTICLASS, scores)
    assert profile.spec.prediction.kind == "class" and profile.spec.prediction.classes == ("a", "b", "c")
    np.testing.assert_array_equal(profile.spec.prediction.counts, [3, 2, 1])
    np.testing.assert_array_equal(profile.counts(columns, scores[::-1])[PREDICTION], [3, 2, 1])
    with pytest.raises(DataError, match=r"shape \(6, 3\)"):
        profile.counts(columns, scores[:, :2])


def test_scores_are_checked() -> None:
    columns = _columns(4)
    with pytest.raises(DataError, match=r"shape \(4,\)"):
        Profile.fit(columns, CONTRACT, np.ones(3))
    with pytest.raises(DataError, match="finite"):
        Profile.fit(columns, CONTRACT, np.array([0.1, np.nan, 0.2, 0.3]))
    with pytest.raises(DataError, match="empty"):
        Profile.fit({k: v[:0] for k, v in columns.items()}, CONTRACT, np.ones(0))


def test_reference_sample_is_small_json_and_feeds_the_preprocessor() -> None:
    profile, pre = _profile()
    sample = profile.spec.sample
    assert set(sample) == {"x", "spiky", "car"} and len(sample["x"]) == 256
    assert None in sample["x"] and None in sample["car"]  # missing stays missing, as null
    assert "NaN" not in json.dumps(profile.to_dict())
    columns = profile.sample_columns()
    assert columns["x"].dtype == np.float64 and columns["car"].dtype == object
    X = pre.transform(columns)
    assert X.shape == (256, pre.width) and np.isfinite(X).all()
    small = Profile.fit(_columns(10), CONTRACT, _scores(10))
    assert len(small.spec.sample["x"]) == 10


def test_json_round_trip_and_fingerprint(tmp_path: Path) -> None:
    profile, _ = _profile()
    path = tmp_path / "profile.json"
    profile.save(path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == profile.fingerprint
    loaded = Profile.load(path)
    assert loaded == profile and loaded.fingerprint == profile.fingerprint
    batch = _columns(300, seed=9)
    for name, vector in loaded.counts(batch, _scores(300)).items():
        np.testing.assert_array_equal(vector, profile.counts(batch, _scores(300))[name])
    other = Profile.fit(_columns(2000), CONTRACT, _scores(2000), bins=5)
    assert other.fingerprint != profile.fingerprint


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"nope", "not valid JSON"),
        (b"\x80\x04K\x01.", "pickle"),
        (b'{"format": "driftline.profile"}', "not a valid Driftline profile"),
    ],
)
def test_load_refuses_bad_files(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "profile.json"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        Profile.load(path)


def test_from_dict_checks_bin_layout() -> None:
    profile, _ = _profile()
    data = profile.to_dict()
    data["features"][0]["counts"] = data["features"][0]["counts"][:-1]
    with pytest.raises(DataError, match="expected 11 counts"):
        Profile.from_dict(data)
    data = profile.to_dict()
    data["sample"]["car"][0] = 3.5
    with pytest.raises(DataError, match="must hold str or null"):
        Profile.from_dict(data)
