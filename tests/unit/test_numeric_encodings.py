"""Numeric encodings: training-quantile edges, piecewise-linear and one-hot bins, persisted and validated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from driftline.contract import Contract
from driftline.errors import PreprocessingError
from driftline.preprocessing import NumericEncoding, PreprocessingOptions, Preprocessor
from driftline.preprocessing.encodings import Bins

X_ONLY = Contract.model_validate({"name": "t", "features": [{"name": "x", "kind": "numeric"}]})
TWO = Contract.model_validate(
    {"name": "t", "features": [{"name": "x", "kind": "numeric"}, {"name": "c", "kind": "categorical"}]}
)
TRAIN = {"x": np.array([0.0, 1.0, 2.0, 3.0, 4.0, np.nan])}  # the median, 2, imputes the NaN


def _fit(kind: Any, bins: int = 4, columns: dict[str, np.ndarray] = TRAIN, contract: Contract = X_ONLY) -> Preprocessor:
    options = PreprocessingOptions(scaling="none", numeric_encoding=NumericEncoding(kind=kind, bins=bins))
    return Preprocessor.fit(columns, contract, options)


def test_edges_are_training_quantiles_of_the_imputed_column() -> None:
    pre = _fit("piecewise_linear")
    assert pre.spec.features[0].edges == (0.0, 1.25, 2.0, 2.75, 4.0)  # quartiles of 0, 1, 2, 2, 3, 4
    assert pre.feature_names_out == ("x", "x#0", "x#1", "x#2", "x#3")


def test_piecewise_linear_by_hand_and_never_clipped_outside_the_training_range() -> None:
    pre = _fit("piecewise_linear", columns={"x": np.array([0.0, 1.0, 2.0, 3.0, 4.0])})
    assert pre.spec.features[0].edges == (0.0, 1.0, 2.0, 3.0, 4.0)
    X = pre.transform({"x": np.array([-2.0, 0.0, 1.5, 3.0, 6.0, np.nan])})
    expected = [
        [-2.0, -2.0, 0.0, 0.0, 0.0],  # below the first edge: the first column goes negative
        [0.0, 0.0, 0.0, 0.0, 0.0],
        [1.5, 1.0, 0.5, 0.0, 0.0],
        [3.0, 1.0, 1.0, 1.0, 0.0],
        [6.0, 1.0, 1.0, 1.0, 3.0],  # above the last edge: the last column goes past 1
        [2.0, 1.0, 1.0, 0.0, 0.0],  # NaN: the training median, then encoded
    ]
    np.testing.assert_array_equal(X, np.array(expected, dtype=np.float32))


def test_quantile_onehot_by_hand() -> None:
    pre = _fit("quantile_onehot", columns={"x": np.array([0.0, 1.0, 2.0, 3.0, 4.0])})
    X = pre.transform({"x": np.array([-2.0, 0.0, 0.99, 1.0, 3.5, 4.0, 9.0])})
    np.testing.assert_array_equal(X[:, 1:].argmax(axis=1), [0, 0, 0, 1, 3, 3, 3])
    np.testing.assert_array_equal(X[:, 1:].sum(axis=1), np.ones(7))  # exactly one bin per row
    scaled = np.array([-2.0, 0.0, 0.99, 1.0, 3.5, 4.0, 9.0], dtype=np.float32)
    np.testing.assert_array_equal(X[:, 0], scaled)  # the scaled column stays beside the bins


def test_repeated_quantiles_merge_and_a_constant_column_gets_no_bins() -> None:
    zeros = np.array([0.0] * 8 + [1.0, 2.0])  # a mass of zeros, as commission has
    pre = _fit("piecewise_linear", bins=10, columns={"x": zeros})
    edges = pre.spec.features[0].edges
    assert edges is not None and edges[0] == 0.0 and len(edges) == len(set(edges)) < 11
    constant = _fit("piecewise_linear", columns={"x": np.full(5, 3.0)})
    assert constant.spec.features[0].edges == (3.0,) and constant.feature_names_out == ("x",)
    assert constant.transform({"x": np.array([1.0, 3.0])}).shape == (2, 1)


def test_one_bin_is_min_max_scaling() -> None:
    pre = _fit("piecewise_linear", bins=1, columns={"x": np.array([2.0, 4.0, 6.0])})
    np.testing.assert_array_equal(pre.transform({"x": np.array([0.0, 4.0, 8.0])})[:, 1], [-0.5, 0.5, 1.5])


@pytest.mark.parametrize("kind", ["piecewise_linear", "quantile_onehot"])
def test_features_encoded_together_match_each_encoded_alone(kind: str) -> None:
    # Bins writes every feature's columns in one pass: each block must be, to the bit, that feature's own encoding,
    # whatever its neighbours' bin counts (none, one, many), values far outside the edges included.
    rng = np.random.default_rng(5)
    edges = [np.array([3.0]), np.array([-1.0, 2.0]), np.array([]), np.sort(rng.normal(size=65) * 100), np.arange(5.0)]
    values = rng.normal(size=(len(edges), 40)) * 300
    together = Bins(edges, kind)
    out = np.zeros((40, together.width), dtype=np.float32)
    together.write(values, out)
    start = 0
    for e, x in zip(edges, values, strict=True):
        alone = Bins([e], kind)
        own = np.zeros((40, alone.width), dtype=np.float32)
        alone.write(x[None, :], own)
        assert out[:, start : start + alone.width].tobytes() == own.tobytes()
        start += alone.width
    assert start == together.width == 0 + 1 + 0 + 64 + 4


def test_layout_puts_every_numeric_block_before_the_categoricals() -> None:
    columns = {"x": np.arange(10.0), "c": np.array(list("ababababab"), dtype=object)}
    pre = _fit("quantile_onehot", bins=2, columns=columns, contract=TWO)
    assert pre.feature_names_out == ("x", "x#0", "x#1", "c=a", "c=b", "c=__unknown__")
    X = pre.transform({"x": np.array([0.0, 9.0]), "c": np.array(["b", "zz"], dtype=object)})
    np.testing.assert_array_equal(X, np.array([[0, 1, 0, 0, 1, 0], [9, 0, 1, 0, 0, 1]], dtype=np.float32))


def test_edges_are_persisted_and_round_trip(tmp_path: Path) -> None:
    pre = _fit("piecewise_linear", bins=3, columns={"x": np.random.default_rng(1).lognormal(size=500)})
    pre.save(tmp_path / "p.json")
    loaded = Preprocessor.load(tmp_path / "p.json")
    assert loaded == pre and loaded.fingerprint == pre.fingerprint
    serve = {"x": np.array([0.01, 1.0, 50.0])}
    assert np.array_equal(loaded.transform(serve), pre.transform(serve))


def test_an_artifact_without_an_encoding_keeps_its_bytes() -> None:
    pre = Preprocessor.fit(TRAIN, X_ONLY)
    data = pre.to_dict()
    assert "numeric_encoding" not in data["options"] and "edges" not in data["features"][0]
    assert Preprocessor.from_dict(data).fingerprint == pre.fingerprint


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["features"][0].update(edges=[1.0, 1.0]), "strictly increasing"),
        (lambda d: d["features"][0].update(edges=[]), "strictly increasing"),
        (lambda d: d["features"][0].pop("edges"), "edges must be set exactly"),
        (lambda d: d["options"].pop("numeric_encoding"), "edges must be set exactly"),
        (lambda d: d["options"]["numeric_encoding"].update(kind="spline"), "kind"),
        (lambda d: d["options"]["numeric_encoding"].update(bins=0), "bins"),
    ],
)
def test_from_dict_validates_the_encoding(edit: Any, message: str) -> None:
    data = _fit("piecewise_linear").to_dict()
    edit(data)
    with pytest.raises(PreprocessingError, match=message):
        Preprocessor.from_dict(data)
