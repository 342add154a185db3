"""The persisted preprocessing artifact (canonical JSON, sha256 fingerprint, strict loading) and the category codes'
two ways of being computed."""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from driftline.errors import PreprocessingError
from driftline.preprocessing import PreprocessingOptions, Preprocessor, canonical_json, columns_from_frame
from driftline.preprocessing.columns import _codes_each, _codes_factorised
from tests.unit.test_preprocessing import MIXED, _frame

# -- the artifact --------------------------------------------------------------------------------------------


def _fitted(**options: Any) -> Preprocessor:
    frame = _frame(200)
    return Preprocessor.fit(columns_from_frame(frame, MIXED), MIXED, PreprocessingOptions(**options))


def test_fingerprint_is_the_sha256_of_the_saved_file_and_survives_a_round_trip(tmp_path: Path) -> None:
    pre = _fitted()
    path = tmp_path / "preprocessing.json"
    pre.save(path)
    raw = path.read_bytes()
    assert hashlib.sha256(raw).hexdigest() == pre.fingerprint
    assert raw == canonical_json(json.loads(raw)) and b"\n" not in raw  # already canonical: sorted, compact
    assert Preprocessor.load(path).fingerprint == pre.fingerprint
    assert Preprocessor.from_dict(json.loads(raw)).fingerprint == pre.fingerprint
    pretty = tmp_path / "pretty.json"
    pretty.write_text(json.dumps(pre.to_dict(), indent=4))  # whitespace does not change the fingerprint
    assert Preprocessor.load(pretty).fingerprint == pre.fingerprint


def test_floats_round_trip_exactly(tmp_path: Path) -> None:
    pre = _fitted(scaling="standard")
    pre.save(tmp_path / "p.json")
    loaded = Preprocessor.load(tmp_path / "p.json")
    for ours, theirs in zip(pre.spec.features, loaded.spec.features, strict=True):
        assert ours == theirs
    assert loaded._vectors[1].tobytes() == pre._vectors[1].tobytes()


def test_fingerprint_changes_when_a_parameter_changes() -> None:
    pre = _fitted()
    assert _fitted().fingerprint == pre.fingerprint  # deterministic fit
    assert _fitted(scaling="minmax").fingerprint != pre.fingerprint
    data = pre.to_dict()
    data["features"][0]["center"] = float(np.nextafter(data["features"][0]["center"], np.inf))
    assert Preprocessor.from_dict(data).fingerprint != pre.fingerprint


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "not valid JSON"),
        (pickle.dumps({"a": 1}), "looks like a pickle"),
        (b"[]", "not a valid Driftline preprocessing spec"),
        (b'{"format": "driftline.preprocessing"}', "contract"),
        (
            b'{"format": "driftline.preprocessing", "version": 1, "contract": "t", "options": {},'
            b' "features": [{"name": "x", "kind": "numeric", "impute": NaN, "center": 0, "scale": 1}]}',
            "finite",
        ),
    ],
)
def test_load_refuses_bad_files_with_a_clear_message(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "preprocessing.json"
    path.write_bytes(content)
    with pytest.raises(PreprocessingError, match=message):
        Preprocessor.load(path)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["features"][0].update(scale=0.0), "greater than 0"),
        (lambda d: d["features"][0].update(center=float("nan")), "finite"),
        (lambda d: d["features"][0].update(extra=1), "Extra inputs"),
        (lambda d: d["features"][3].update(impute="nope"), "not a category"),
        (lambda d: d["features"][3].update(categories=["1", "1"]), "repeat"),
        (lambda d: d["options"].update(scaling="robust"), "scaling"),
        (lambda d: d.update(version=2), "version"),
    ],
)
def test_from_dict_validates_structure(edit: Any, message: str) -> None:
    data = _fitted().to_dict()
    edit(data)
    with pytest.raises(PreprocessingError, match=message):
        Preprocessor.from_dict(data)


def test_load_of_a_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(PreprocessingError, match="cannot read preprocessing file"):
        Preprocessor.load(tmp_path / "absent.json")


# -- category codes: a lookup per value for small batches, factorising for large ones; the same codes ----------------


def _odd_column(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pool = np.array(["a", "b", "c", "zz", None, np.nan, pd.NA, pd.NaT, np.str_("b"), 3, 2.5, True, b"a", ("a", "b")],
                    dtype=object)  # fmt: skip
    return pool[rng.integers(0, len(pool), n)]


@pytest.mark.parametrize("n", [0, 1, 80, 256, 257, 1000])
def test_category_codes_are_the_same_whichever_way_they_are_computed(n: int) -> None:
    from driftline.preprocessing.columns import category_codes

    index = {"a": 0, "b": 1, "c": 2}
    values = _odd_column(n, seed=n)
    expected = _codes_factorised(values, index, 3, -1)
    np.testing.assert_array_equal(_codes_each(values, index, 3, -1), expected)
    np.testing.assert_array_equal(category_codes(values, index, 3, -1), expected)
    if n:  # str subclasses are looked up; None, NaN, pd.NA and NaT are missing; anything else is unknown
        by_value = {repr(v): int(c) for v, c in zip(values.tolist(), expected.tolist(), strict=True)}
        for value, code in (("'a'", 0), ("'b'", 1), ("'zz'", 3), ("None", -1), ("nan", -1), ("<NA>", -1),
                            ("NaT", -1), ("3", 3), ("True", 3), ("b'a'", 3), ("('a', 'b')", 3)):  # fmt: skip
            assert by_value.get(value, code) == code
