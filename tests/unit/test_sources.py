"""Sources: a contract-check suite every source passes, the Agrawal generator and its drift, file replay."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import orjson
import pytest

from driftline.contract import Contract, builtin_contract
from driftline.errors import DataError
from driftline.sources import (
    AgrawalSource,
    DigitsSource,
    DriftKind,
    DriftSpec,
    FileSource,
    LabeledRecord,
    Source,
    agrawal_labels,
    parse_drift,
    to_frame,
)
from driftline.validation import Validator

AGRAWAL = builtin_contract("agrawal")
NAIVE = datetime(2024, 1, 1, tzinfo=UTC).replace(tzinfo=None)  # for the one test that needs a naive time
N = 3000  # spans a chunk boundary (4096) only in the tests that ask for more
DRIFTS = {
    "concept": "concept:function=3@1000",
    "covariate": "covariate:salary@1000",
    "new_categories": "new_categories:car@1000",
    "missing": "missing:age:0.3@1000..2000",
}


def _write_csv(tmp_path: Path) -> Source:
    frame = AgrawalSource(seed=5, n_records=400).frame(400)
    frame["ignored"] = "extra column"
    path = tmp_path / "loans.csv"
    frame.to_csv(path, index=False)
    return FileSource(path, AGRAWAL)


def _write_parquet(tmp_path: Path) -> Source:
    frame = AgrawalSource(seed=6, drift="missing:car:0.2@0", n_records=400).frame(400)
    path = tmp_path / "loans.parquet"
    frame.to_parquet(path, index=False)
    return FileSource(path, AGRAWAL)


SOURCES: dict[str, Callable[[Path], Source]] = {
    "agrawal": lambda _: AgrawalSource(seed=11),
    **{f"agrawal+{k}": (lambda _, d=d: AgrawalSource(seed=11, drift=d)) for k, d in DRIFTS.items()},
    "agrawal+all": lambda _: AgrawalSource(seed=11, drift=";".join(DRIFTS.values())),
    "agrawal-iso": lambda _: AgrawalSource(
        seed=11, contract=AGRAWAL.model_copy(update={"event_time_format": "iso8601"})
    ),
    "csv": _write_csv,
    "parquet": _write_parquet,
    "digits": lambda _: DigitsSource(seed=11),
    "digits+all": lambda _: DigitsSource(seed=11, drift="rotation:30@500;thickness:1@1000;inversion@1500..2000;"
                                                        "noise:40@2500;style@2800"),
}


@pytest.fixture(params=sorted(SOURCES))
def make_source(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Source]:
    return lambda: SOURCES[request.param](tmp_path)


# -- the contract every source must pass -----------------------------------------------------------------


def test_same_configuration_same_records(make_source: Callable[[], Source]) -> None:
    first, second = make_source(), make_source()
    assert first.take(N) == second.take(N)
    assert first.take(N) == first.take(N)  # records() starts over


def test_every_record_validates_against_the_contract(make_source: Callable[[], Source]) -> None:
    source = make_source()
    items = source.take(N)
    batch, rejections = Validator(source.contract).validate_batch([orjson.dumps(i.record) for i in items])
    assert rejections == []
    assert len(batch) == len(items)


def test_records_are_flat_have_unique_ids_and_never_the_label(make_source: Callable[[], Source]) -> None:
    source = make_source()
    c = source.contract
    items = source.take(N)
    assert all(isinstance(i, LabeledRecord) for i in items)
    ids = [i.record[c.id_field] for i in items]
    assert len(set(ids)) == len(ids)
    expected_keys = {c.id_field, c.event_time_field, *c.feature_names}
    for item in items:
        assert set(item.record) == expected_keys
        assert c.label.name not in item.record
        assert item.label in c.label.classes
        assert all(not isinstance(v, dict | list) for v in item.record.values())


def test_to_frame_has_the_training_types(make_source: Callable[[], Source]) -> None:
    source = make_source()
    c = source.contract
    frame = to_frame(source.take(500), c)
    assert list(frame.columns) == [c.id_field, c.event_time_field, *c.feature_names, c.label.name]
    assert frame[c.event_time_field].dtype == np.int64
    assert frame[c.id_field].dtype == object
    for f in c.features:
        assert frame[f.name].dtype == (np.float64 if f.is_numeric else object), f.name
    ints = all(type(k) is int for k in c.label.classes)
    assert frame[c.label.name].dtype == (np.int64 if ints else object)  # class names stay strings


# -- Agrawal ---------------------------------------------------------------------------------------------


def test_different_seeds_differ() -> None:
    a, b = AgrawalSource(seed=1).take(100), AgrawalSource(seed=2).take(100)
    assert [x.record["salary"] for x in a] != [x.record["salary"] for x in b]


def test_ids_times_and_categories_look_as_documented() -> None:
    items = AgrawalSource(seed=4, start_ms=1_000, interval_ms=5).take(5000)
    assert items[3].record["id"] == "agr-4-3"
    assert items[3].record["event_time"] == 1_015
    assert {i.record["elevel"] for i in items} == {str(v) for v in range(5)}
    assert {i.record["car"] for i in items} == {str(v) for v in range(1, 21)}
    assert {i.record["zipcode"] for i in items} == {str(v) for v in range(9)}
    assert set(AGRAWAL.feature("car").categories or ()) == {str(v) for v in range(1, 21)}


def _columns(**values: float) -> dict[str, np.ndarray]:
    base = {"salary": 0.0, "commission": 0.0, "age": 30, "elevel": 0, "car": 1, "zipcode": 0}
    base.update({"hvalue": 0.0, "hyears": 1, "loan": 0.0})
    base.update(values)
    return {k: np.array([v]) for k, v in base.items()}


# (function, inputs, label): 0 is the paper's group A (the condition holds), 1 is group B.
HAND_CODED = [
    (1, {"age": 30}, 0), (1, {"age": 50}, 1), (1, {"age": 65}, 0),
    (2, {"age": 30, "salary": 60e3}, 0), (2, {"age": 30, "salary": 120e3}, 1),
    (2, {"age": 70, "salary": 30e3}, 0),
    (3, {"age": 30, "elevel": 1}, 0), (3, {"age": 30, "elevel": 3}, 1), (3, {"age": 50, "elevel": 0}, 1),
    (4, {"age": 30, "elevel": 0, "salary": 30e3}, 0), (4, {"age": 30, "elevel": 2, "salary": 30e3}, 1),
    (4, {"age": 30, "elevel": 2, "salary": 60e3}, 0), (4, {"age": 70, "elevel": 1, "salary": 90e3}, 1),
    (5, {"age": 30, "salary": 60e3, "loan": 200e3}, 0), (5, {"age": 30, "salary": 60e3, "loan": 350e3}, 1),
    (5, {"age": 30, "salary": 20e3, "loan": 350e3}, 0), (5, {"age": 70, "salary": 90e3, "loan": 150e3}, 0),
    (6, {"age": 30, "salary": 40e3, "commission": 20e3}, 0), (6, {"age": 30, "salary": 40e3}, 1),
    (7, {"salary": 90e3, "loan": 100e3}, 0), (7, {"salary": 90e3, "loan": 300e3}, 1),
    (8, {"salary": 90e3, "elevel": 4}, 0), (8, {"salary": 45e3, "elevel": 4}, 1),
    (9, {"salary": 90e3, "elevel": 1, "loan": 100e3}, 0),
    (9, {"salary": 90e3, "elevel": 1, "loan": 400e3}, 1),
    (10, {"salary": 12e3, "hvalue": 500e3, "hyears": 30}, 0),
    (10, {"salary": 12e3, "hvalue": 500e3, "hyears": 10}, 1),
]  # fmt: skip


@pytest.mark.parametrize(("function", "inputs", "label"), HAND_CODED)
def test_each_function_on_hand_coded_cases(function: int, inputs: dict[str, float], label: int) -> None:
    assert agrawal_labels(_columns(**inputs), function).tolist() == [label]


@pytest.mark.parametrize("function", range(1, 11))
def test_labels_follow_the_function_from_the_record_itself(function: int) -> None:
    items = AgrawalSource(seed=function, function=function, noise=0.0).take(2000)
    frame = to_frame(items, AGRAWAL)
    columns = {n: frame[n].to_numpy() for n in ("salary", "commission", "age", "hvalue", "hyears", "loan")}
    columns |= {n: frame[n].astype(int).to_numpy() for n in ("elevel", "car", "zipcode")}
    assert agrawal_labels(columns, function).tolist() == frame["label"].tolist()
    assert frame["label"].isin([0, 1]).all()
    if function not in (8, 10):  # as in MOA, functions 8 and 10 put almost everything in group A
        assert 0.1 < frame["label"].mean() < 0.9


def test_label_noise_rate() -> None:
    clean = AgrawalSource(seed=9, function=2, noise=0.0).take(20_000)
    noisy = AgrawalSource(seed=9, function=2, noise=0.1).take(20_000)
    assert [c.record for c in clean] == [n.record for n in noisy]
    flipped = np.mean([c.label != n.label for c, n in zip(clean, noisy, strict=True)])
    assert abs(flipped - 0.1) < 0.01


def _split(items: list[LabeledRecord], at: int) -> tuple[list[LabeledRecord], list[LabeledRecord]]:
    return items[:at], items[at:]


@pytest.mark.parametrize("kind", sorted(DRIFTS))
def test_drift_changes_nothing_before_its_index(kind: str) -> None:
    base = AgrawalSource(seed=21).take(N)
    drifted = AgrawalSource(seed=21, drift=DRIFTS[kind]).take(N)
    assert drifted[:1000] == base[:1000]
    assert drifted[1000:] != base[1000:]


def test_concept_drift_changes_labels_not_features() -> None:
    _, after = _split(AgrawalSource(seed=3, noise=0.0).take(6000), 2000)
    _, d_after = _split(AgrawalSource(seed=3, noise=0.0, drift="concept:function=3@2000").take(6000), 2000)
    assert [i.record for i in after] == [i.record for i in d_after]
    changed = np.mean([a.label != b.label for a, b in zip(after, d_after, strict=True)])
    assert changed > 0.2


def test_covariate_drift_moves_the_feature() -> None:
    items = AgrawalSource(seed=3, drift="covariate:salary:scale=1,shift=40000@2000").take(6000)
    before, after = _split(items, 2000)
    salary_before = np.array([i.record["salary"] for i in before])
    salary_after = np.array([i.record["salary"] for i in after])
    assert salary_before.max() <= 150_000 < salary_after.max()
    assert salary_after.min() >= 60_000
    assert abs((salary_after.mean() - salary_before.mean()) - 40_000) < 5_000


def test_covariate_drift_labels_use_the_shifted_values() -> None:
    items = AgrawalSource(seed=3, function=2, noise=0.0, drift="covariate:salary@0").take(2000)
    frame = to_frame(items, AGRAWAL)
    columns = {n: frame[n].to_numpy() for n in AGRAWAL.feature_names if AGRAWAL.feature(n).is_numeric}
    columns["elevel"] = frame["elevel"].astype(int).to_numpy()
    assert agrawal_labels(columns, 2).tolist() == frame["label"].tolist()


def test_new_categories_appear_only_after_the_index() -> None:
    before, after = _split(
        AgrawalSource(seed=3, drift="new_categories:car:count=5,fraction=0.5@2000").take(6000), 2000
    )
    known = set(AGRAWAL.feature("car").categories or ())
    assert all(i.record["car"] in known for i in before)
    unseen = [i.record["car"] for i in after if i.record["car"] not in known]
    assert set(unseen) == {"21", "22", "23", "24", "25"}
    assert abs(len(unseen) / len(after) - 0.5) < 0.05


def test_missing_spike_is_confined_to_its_window() -> None:
    items = AgrawalSource(seed=3, drift="missing:age:0.3@1000..3000").take(5000)
    nulls = np.array([i.record["age"] is None for i in items])
    assert not nulls[:1000].any() and not nulls[3000:].any()
    assert abs(nulls[1000:3000].mean() - 0.3) < 0.04


def test_n_records_is_a_prefix_of_the_endless_stream() -> None:
    endless = AgrawalSource(seed=8).take(5000)
    assert AgrawalSource(seed=8, n_records=4500).take(10_000) == endless[:4500]
    assert AgrawalSource(seed=8, n_records=0).take(10) == []


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"function": 11}, ValueError),
        ({"noise": 1.5}, ValueError),
        ({"seed": -1}, ValueError),
        ({"drift": "covariate:salary:scale=100@0"}, DataError),  # leaves the contract's bounds
        ({"drift": "covariate:car@0"}, DataError),
        ({"drift": "new_categories:salary@0"}, DataError),
        ({"drift": "missing:nope:0.3@0"}, DataError),
        ({"drift": "concept:function=12@0"}, DataError),
    ],
)
def test_agrawal_refuses_bad_configuration(kwargs: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        AgrawalSource(**kwargs)  # type: ignore[arg-type]


def test_missing_drift_needs_a_nullable_feature() -> None:
    data = AGRAWAL.model_dump(mode="json")
    data["features"] = [{**f, "nullable": f["name"] != "age"} for f in data["features"]]
    with pytest.raises(DataError, match="not nullable"):
        AgrawalSource(contract=Contract.model_validate(data), drift="missing:age:0.3@0")


# -- drift specs -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("concept:function=3@20000", DriftSpec(DriftKind.CONCEPT, 20000, function=3)),
        ("concept:3@20000", DriftSpec(DriftKind.CONCEPT, 20000, function=3)),
        ("covariate:salary@20000", DriftSpec(DriftKind.COVARIATE, 20000, feature="salary")),
        (
            "covariate:salary:scale=1,shift=-5000@10..20",
            DriftSpec(DriftKind.COVARIATE, 10, 20, feature="salary", scale=1.0, shift=-5000.0),
        ),
        ("new_categories:car@5", DriftSpec(DriftKind.NEW_CATEGORIES, 5, feature="car")),
        (
            "new_categories:car:count=3,fraction=1@5",
            DriftSpec(DriftKind.NEW_CATEGORIES, 5, feature="car", count=3, fraction=1.0),
        ),
        ("missing:age:0.3@10000", DriftSpec(DriftKind.MISSING, 10000, feature="age", fraction=0.3)),
        (" missing : age : 0.3 @ 10000 ", DriftSpec(DriftKind.MISSING, 10000, feature="age", fraction=0.3)),
    ],
)  # fmt: skip
def test_drift_spec_parses_and_round_trips(text: str, expected: DriftSpec) -> None:
    spec = DriftSpec.parse(text)
    assert spec == expected
    assert DriftSpec.parse(str(spec)) == spec


@pytest.mark.parametrize(
    "text",
    [
        "concept@5",
        "concept:function=3",
        "sideways:salary@5",
        "covariate@5",
        "covariate:salary:wobble=2@5",
        "missing:age:1.5@5",
        "missing:age:0.3@10..5",
        "missing:age:0.3@-1",
        "concept:salary:3@5",
    ],
)
def test_bad_drift_specs_say_what_is_expected(text: str) -> None:
    with pytest.raises(ValueError, match="expected KIND"):
        DriftSpec.parse(text)


def test_parse_drift_forms() -> None:
    assert parse_drift(None) == ()
    assert parse_drift("") == ()
    assert len(parse_drift("concept:3@5; missing:age:0.1@7")) == 2
    assert parse_drift(["concept:3@5"]) == (DriftSpec(DriftKind.CONCEPT, 5, function=3),)


# -- files -----------------------------------------------------------------------------------------------
