"""Which contract changes make a version another contract than production's, and the registry's refusal of them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from driftline.contract import Contract
from driftline.errors import ContractMismatch
from driftline.registry import Registry
from driftline.registry.compatibility import contract_difference
from tests.unit.test_registry import fake_keras

BASE: dict[str, Any] = {
    "name": "credit",
    "label": {"name": "label", "task": "binary", "classes": [0, 1]},
    "features": [
        {"name": "salary", "kind": "numeric", "min": 0},
        {"name": "elevel", "kind": "categorical", "categories": ["0", "1", "2"]},
        {"name": "zipcode", "kind": "categorical"},
    ],
}


def contract(**changes: Any) -> Contract:
    return Contract.model_validate({**BASE, **changes})


def features(*edits: tuple[int, dict[str, Any]]) -> list[dict[str, Any]]:
    out = [dict(f) for f in BASE["features"]]
    for index, edit in edits:
        out[index] = {**out[index], **edit}
    return out


def test_the_same_contract_under_another_name_and_policy_is_the_same_contract() -> None:
    policy = features((0, {"min": None, "max": 10**6, "nullable": False}), (1, {"categories": ["2", "1", "0"]}))
    reordered = [policy[2], policy[0], policy[1]]
    assert contract_difference(contract(), contract(name="credit-v2", features=reordered,
                                                    max_record_bytes=1024)) is None  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"features": BASE["features"][:2]}, "feature 'zipcode' of production's contract is missing"),
        ({"features": [*BASE["features"], {"name": "alcohol", "kind": "numeric"}]},
         "feature 'alcohol' is not in production's contract"),
        ({"features": features((0, {"kind": "categorical", "min": None}))},
         "feature 'salary' is categorical, production's is numeric"),
        ({"features": features((1, {"categories": ["0", "1", "2", "3"]}))},
         "feature 'elevel' declares categories ['0', '1', '2', '3'], production's ['0', '1', '2']"),
        ({"features": features((2, {"categories": ["a"]}))},
         "feature 'zipcode' declares categories ['a'], production's None"),
        ({"label": {"name": "label", "task": "binary", "classes": [1, 0]}},
         "the label classes are [1, 0], production's are [0, 1]"),
        ({"label": {"name": "label", "task": "multiclass", "classes": [0, 1, 2]}},
         "the task is multiclass, production's is binary"),
        ({"label": {"name": "target", "task": "binary", "classes": [0, 1]}},
         "the label field is 'target', production's is 'label'"),
        ({"id_field": "key"}, "id_field is 'key', production's is 'id'"),
        ({"event_time_format": "iso8601"}, "event_time_format is 'iso8601', production's is 'epoch_ms'"),
    ],
)  # fmt: skip
def test_each_difference_is_named(changes: dict[str, Any], expected: str) -> None:
    assert contract_difference(contract(), contract(**changes)) == expected


def test_the_first_difference_is_the_one_named() -> None:
    wine = contract(label={"name": "label", "task": "multiclass", "classes": [0, 1, 2]},
                    features=[{"name": "alcohol", "kind": "numeric"}])  # fmt: skip
    assert contract_difference(contract(), wine) == "the task is multiclass, production's is binary"


def version_files(c: Contract) -> dict[str, Path | bytes]:
    return {"model.keras": fake_keras(), "contract.yaml": yaml.safe_dump(c.model_dump(mode="json")).encode(),
            "metrics.json": orjson.dumps({"accuracy": 0.9})}  # fmt: skip


def test_the_registry_refuses_another_contract_unless_it_is_declared_new(tmp_path: Path) -> None:
    registry = Registry(tmp_path, "m")
    other = contract(features=features((0, {"kind": "categorical", "min": None})))
    first = registry.register(version_files(other))  # no production yet: nothing to differ from
    registry.promote(registry.register(version_files(contract())))
    assert registry.register(version_files(contract(name="renamed"))) == 3  # the same contract
    with pytest.raises(ContractMismatch, match=r"production \(version 2\): feature 'salary' is categorical.*"
                                               r"--new-contract"):  # fmt: skip
        registry.register(version_files(other))
    assert [v.version for v in registry.versions()] == [1, 2, 3]  # nothing written, no number taken
    with pytest.raises(ContractMismatch, match="version 1 is for another data contract"):
        registry.promote(first)
    assert registry.alias("production").version == 2  # type: ignore[union-attr]
    declared = registry.register(version_files(other), new_contract=True)
    change = registry.manifest(declared).metadata["new_contract"]
    assert change == {"replaces": 2, "difference": "feature 'salary' is categorical, production's is numeric"}
    registry.promote(first, new_contract=True)
    assert registry.alias("production").version == first  # type: ignore[union-attr]
    registry.promote(declared)  # now the same contract as production's
    assert registry.contract(declared) == other
