"""Persisted preprocessing: fit on training data only, identical arrays at training and serving time."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest

from driftline.contract import Contract
from driftline.errors import PreprocessingError
from driftline.preprocessing import (
    NumericEncoding,
    PreprocessingOptions,
    Preprocessor,
    category_string,
    columns_from_frame,
)


def _contract(*features: tuple[str, str]) -> Contract:
    return Contract.model_validate(
        {"name": "test", "features": [{"name": n, "kind": k} for n, k in features]}
    )


MIXED = _contract(
    ("age", "numeric"),
    ("salary", "numeric"),
    ("loan", "numeric"),
    ("car", "categorical"),
    ("zipcode", "categorical"),
)


def _frame(n: int = 400, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, n).astype(float)
    age[rng.random(n) < 0.1] = np.nan
    salary = rng.lognormal(10, 1, n)
    salary[rng.random(n) < 0.05] = np.nan
    zipcode = rng.choice(np.array(["z0", "z1", "z2", "z3"], dtype=object), n)
    zipcode[rng.random(n) < 0.1] = None
    return pd.DataFrame(
        {
            "age": age,  # float64 with NaN
            "salary": salary,
            "loan": rng.integers(0, 500_000, n),  # int64
            "car": rng.integers(1, 6, n),  # int64 categorical: "1".."5" on the wire
            "zipcode": pd.array(zipcode, dtype="str"),  # pandas 3 string dtype with NaN for missing
            "label": rng.integers(0, 2, n),
        }
    )


def _stream_columns(frame: pd.DataFrame, contract: Contract) -> dict[str, np.ndarray]:
    """What the processor sees: each row as a JSON record on the wire, parsed, then gathered by column."""
    records = []
    for row in frame.to_dict("records"):
        clean = {
            k: (None if pd.isna(v) else v.item() if isinstance(v, np.generic) else v) for k, v in row.items()
        }
        records.append(orjson.loads(orjson.dumps(clean)))
    columns: dict[str, np.ndarray] = {}
    for f in contract.features:
        values = [r[f.name] for r in records]
        if f.is_numeric:
            columns[f.name] = np.array(values, dtype=np.float64)  # None → NaN
        else:  # the validator accepts a JSON integer for a categorical as str(int)
            columns[f.name] = np.array([None if v is None else str(v) for v in values], dtype=object)
    return columns


# -- the seeds' lessons -----------------------------------------------------------------------------------


def test_minmax_keeps_out_of_range_serving_values_outside_0_1() -> None:
    contract = _contract(("x", "numeric"))
    train = {"x": np.linspace(10.0, 100.0, 10)}
    pre = Preprocessor.fit(train, contract, PreprocessingOptions(scaling="minmax"))
    X = pre.transform({"x": np.array([-5.0, 10.0, 55.0, 100.0, 190.0])})
    assert X.dtype == np.float32 and X.shape == (5, 1)
    assert X[0, 0] < 0  # not clipped back to 0
    np.testing.assert_array_equal(X[:, 0], np.array([-15 / 90, 0.0, 0.5, 1.0, 2.0], dtype=np.float32))


def test_standard_scaling_uses_training_mean_and_std() -> None:
    contract = _contract(("x", "numeric"))
    train = np.linspace(10.0, 100.0, 10)
    pre = Preprocessor.fit({"x": train}, contract)  # standard is the default
    params = pre.spec.features[0]
    assert params.center == train.mean() and params.scale == train.std()
    serve = np.array([-5.0, 55.0, 1000.0])
    expected = ((serve - train.mean()) / train.std()).astype(np.float32)
    np.testing.assert_array_equal(pre.transform({"x": serve})[:, 0], expected)


def test_nan_and_none_are_imputed_with_training_values_and_counted() -> None:
    contract = _contract(("x", "numeric"), ("c", "categorical"))
    train = {
        "x": np.array([1.0, 2.0, np.nan, 4.0, 100.0]),
        "c": np.array(["b", "a", "b", None, "a"], dtype=object),  # tie a/b: the first in category order wins
    }
    pre = Preprocessor.fit(train, contract, PreprocessingOptions(scaling="none"))
    assert pre.spec.features[0].impute == 3.0  # median of the present values
    assert pre.spec.features[1].impute == "a"
    X, stats = pre.transform_with_stats(
        {"x": np.array([np.nan, 7.0]), "c": np.array([None, "b"], dtype=object)}
    )
    assert pre.feature_names_out == ("x", "c=a", "c=b", "c=__unknown__")
    np.testing.assert_array_equal(X, np.array([[3.0, 1, 0, 0], [7.0, 0, 1, 0]], dtype=np.float32))
    assert stats.rows == 2 and stats.missing == {"x": 1, "c": 1} and stats.unknown == {"c": 0}


def test_unseen_category_goes_to_the_unknown_bucket_and_is_counted() -> None:
    contract = _contract(("car", "categorical"))
    pre = Preprocessor.fit({"car": np.array(["1", "2", "3"], dtype=object)}, contract)
    X, stats = pre.transform_with_stats({"car": np.array(["2", "9", "9", None], dtype=object)})
    assert pre.feature_names_out == ("car=1", "car=2", "car=3", "car=__unknown__")
    np.testing.assert_array_equal(X[1], [0, 0, 0, 1])
    np.testing.assert_array_equal(X.sum(axis=1), np.ones(4))  # exactly one hot per row
    assert stats.unknown == {"car": 2} and stats.missing == {"car": 1}


def test_index_encoding_and_missing_category_policy() -> None:
    contract = _contract(("car", "categorical"))
    options = PreprocessingOptions(encoding="index", categorical_missing="category")
    pre = Preprocessor.fit({"car": np.array(["b", "a", None], dtype=object)}, contract, options)
    assert pre.feature_names_out == ("car",) and pre.width == 1
    X = pre.transform({"car": np.array(["a", "b", "zz", None], dtype=object)})
    np.testing.assert_array_equal(X[:, 0], [0, 1, 2, 3])  # known 0..K-1, unknown K, missing K+1
    onehot = Preprocessor.fit(
        {"car": np.array(["b", "a"], dtype=object)},
        contract,
        PreprocessingOptions(categorical_missing="category"),
    )
    assert onehot.feature_names_out == ("car=a", "car=b", "car=__unknown__", "car=__missing__")
    np.testing.assert_array_equal(onehot.transform({"car": np.array([None], dtype=object)}), [[0, 0, 0, 1]])


@pytest.mark.parametrize("missing", ["most_frequent", "category"])
def test_onehot_blocks_match_feature_names_out(missing: str) -> None:
    frame = _frame()
    pre = Preprocessor.fit(
        columns_from_frame(frame, MIXED), MIXED, PreprocessingOptions(categorical_missing=missing)
    )
    X = pre.transform(columns_from_frame(frame, MIXED))
    names = pre.feature_names_out
    assert names[:3] == ("age", "salary", "loan") and len(names) == X.shape[1] == pre.width
    for feature in ("car", "zipcode"):
        block = [i for i, name in enumerate(names) if name.startswith(f"{feature}=")]
        assert block == list(range(block[0], block[-1] + 1))  # contiguous, in contract order
        assert names[block[-1]] == (
            f"{feature}=__missing__" if missing == "category" else f"{feature}=__unknown__"
        )
        np.testing.assert_array_equal(X[:, block].sum(axis=1), np.ones(len(frame)))  # exactly one hot
    if missing == "category":  # zipcode has missing rows, and they land in its __missing__ column
        assert X[:, names.index("zipcode=__missing__")].sum() == frame["zipcode"].isna().sum() > 0


def test_declared_categories_fix_the_set_and_order() -> None:
    contract = Contract.model_validate(
        {"name": "t", "features": [{"name": "e", "kind": "categorical", "categories": ["2", "0", "1"]}]}
    )
    pre = Preprocessor.fit({"e": np.array(["1", "1", "7"], dtype=object)}, contract)
    assert pre.categories("e") == ("2", "0", "1") and pre.spec.features[0].impute == "1"


@pytest.mark.parametrize("scaling", ["standard", "minmax"])
def test_constant_column_scales_without_dividing_by_zero(scaling: str) -> None:
    contract = _contract(("x", "numeric"))
    pre = Preprocessor.fit({"x": np.full(5, 3.0)}, contract, PreprocessingOptions(scaling=scaling))
    assert pre.spec.features[0].scale == 1.0
    X = pre.transform({"x": np.array([3.0, 4.0])})
    assert np.isfinite(X).all() and X[0, 0] == 0.0 and X[1, 0] == 1.0
    # np.full(7, 0.1) has a rounded mean and a std of ~1e-17: still a constant column, not a huge scale
    pre = Preprocessor.fit({"x": np.full(7, 0.1)}, contract, PreprocessingOptions(scaling=scaling))
    assert pre.spec.features[0].scale == 1.0
    np.testing.assert_allclose(pre.transform({"x": np.array([0.1, 1.1])})[:, 0], [0.0, 1.0], atol=1e-6)


@pytest.mark.parametrize(("impute", "expected"), [("median", 2.0), ("mean", 34 / 3), ("constant", -1.0)])
def test_numeric_imputation_choices(impute: str, expected: float) -> None:
    contract = _contract(("x", "numeric"))
    options = PreprocessingOptions(numeric_impute=impute, fill_value=-1.0, scaling="none")
    pre = Preprocessor.fit({"x": np.array([1.0, 2.0, 31.0, np.nan])}, contract, options)
    assert pre.transform({"x": np.array([np.nan])})[0, 0] == np.float32(expected)


# -- train/serve parity -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        PreprocessingOptions(),
        PreprocessingOptions(scaling="minmax", numeric_impute="mean", encoding="index"),
        PreprocessingOptions(categorical_missing="category"),
        PreprocessingOptions(numeric_encoding=NumericEncoding(kind="piecewise_linear", bins=8)),
        PreprocessingOptions(numeric_encoding=NumericEncoding(kind="quantile_onehot", bins=5), scaling="minmax"),
    ],
)
def test_frame_and_stream_transform_to_the_bit(options: PreprocessingOptions, tmp_path: Path) -> None:
    frame = _frame()
    train, serve = frame.iloc[:300], frame.iloc[300:]
    pre = Preprocessor.fit(columns_from_frame(train, MIXED), MIXED, options)
    for part in (train, serve):
        from_frame = pre.transform(columns_from_frame(part, MIXED))
        from_stream = pre.transform(_stream_columns(part, MIXED))
        assert from_frame.dtype == np.float32 and from_frame.shape == (len(part), pre.width)
        assert np.array_equal(from_frame, from_stream)
        pre.save(tmp_path / "preprocessing.json")
        loaded = Preprocessor.load(tmp_path / "preprocessing.json")
        assert loaded == pre
        assert np.array_equal(loaded.transform(_stream_columns(part, MIXED)), from_frame)
        assert np.array_equal(loaded.transform_with_stats(columns_from_frame(part, MIXED))[0], from_frame)


@pytest.mark.parametrize("encoding", [None, NumericEncoding(bins=7), NumericEncoding(kind="quantile_onehot")])
def test_micro_batch_boundaries_do_not_change_a_row(encoding: NumericEncoding | None) -> None:
    frame = _frame()
    pre = Preprocessor.fit(columns_from_frame(frame, MIXED), MIXED, PreprocessingOptions(numeric_encoding=encoding))
    whole = pre.transform(_stream_columns(frame, MIXED))
    parts = [
        pre.transform(_stream_columns(frame.iloc[a:b], MIXED)) for a, b in [(0, 1), (1, 129), (129, 400)]
    ]
    assert np.array_equal(np.concatenate(parts), whole)


def test_columns_from_frame_matches_the_stream_representation() -> None:
    frame = _frame(50)
    ours, stream = columns_from_frame(frame, MIXED), _stream_columns(frame, MIXED)
    for name in MIXED.feature_names:
        assert ours[name].dtype == stream[name].dtype
        if ours[name].dtype == object:
            assert ours[name].tolist() == stream[name].tolist()
        else:
            np.testing.assert_array_equal(ours[name], stream[name])


def test_csv_ints_become_the_same_category_strings_as_the_wire() -> None:
    contract = _contract(("car", "categorical"), ("x", "numeric"))
    frame = pd.read_csv(io.StringIO("car,x\n3,1\n,\n4,2.5\n2.5,3\n"))  # a gap turns car into float64: 3.0
    assert frame["car"].dtype == np.float64
    columns = columns_from_frame(frame, contract)
    assert columns["car"].tolist() == ["3", None, "4", "2.5"]
    assert columns["x"].dtype == np.float64 and np.isnan(columns["x"][1])


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("3", "3"),
        ("3.0", "3.0"),
        (3, "3"),
        (3.0, "3"),
        (np.int64(3), "3"),
        (np.float32(2.5), "2.5"),
        (True, "True"),
    ],
)
def test_category_string_rule(value: Any, text: str) -> None:
    assert category_string(value) == text


def test_columns_from_frame_handles_pandas_nullable_and_categorical_dtypes() -> None:
    contract = _contract(("car", "categorical"), ("x", "numeric"))
    frame = pd.DataFrame(
        {
            "car": pd.Categorical(["1", None, "2"]),
            "x": pd.array([1, pd.NA, 2], dtype="Int64"),
        }
    )
    columns = columns_from_frame(frame, contract)
    assert columns["car"].tolist() == ["1", None, "2"]
    np.testing.assert_array_equal(columns["x"], [1.0, np.nan, 2.0])
    strings = pd.DataFrame({"car": pd.array(["a", pd.NA], dtype="string"), "x": [1.0, 2.0]})
    assert columns_from_frame(strings, contract)["car"].tolist() == ["a", None]


@pytest.mark.parametrize("bad", [[True, False], ["1", "x"]])
def test_columns_from_frame_refuses_non_numbers_in_numeric_features(bad: list[Any]) -> None:
    contract = _contract(("x", "numeric"))
    with pytest.raises(PreprocessingError, match="'x' must hold numbers"):
        columns_from_frame(pd.DataFrame({"x": bad}), contract)


# -- fit errors -------------------------------------------------------------------------------------------


def test_fit_refuses_empty_missing_and_all_null_inputs() -> None:
    contract = _contract(("x", "numeric"), ("c", "categorical"))
    with pytest.raises(PreprocessingError, match="empty training set"):
        Preprocessor.fit({"x": np.empty(0), "c": np.empty(0, dtype=object)}, contract)
    with pytest.raises(PreprocessingError, match=r"frame lacks contract features \['c'\]"):
        columns_from_frame(pd.DataFrame({"x": [1.0]}), contract)
    with pytest.raises(PreprocessingError, match=r"columns \['c'\] are missing"):
        Preprocessor.fit({"x": np.ones(3)}, contract)
    with pytest.raises(PreprocessingError, match="'x' is null in every training row"):
        Preprocessor.fit({"x": np.full(3, np.nan), "c": np.array(["a"] * 3, dtype=object)}, contract)
    with pytest.raises(PreprocessingError, match="'c' has no categories"):
        Preprocessor.fit({"x": np.ones(2), "c": np.array([None, None], dtype=object)}, contract)


def test_transform_refuses_missing_columns() -> None:
    contract = _contract(("x", "numeric"), ("c", "categorical"))
    pre = Preprocessor.fit({"x": np.ones(2), "c": np.array(["a", "b"], dtype=object)}, contract)
    with pytest.raises(PreprocessingError, match=r"\['c'\] are missing"):
        pre.transform({"x": np.ones(2)})
    assert pre.transform({"x": np.empty(0), "c": np.empty(0, dtype=object)}).shape == (0, pre.width)
