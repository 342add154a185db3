"""The release compiles, the worker only runs: model.tflite and golden.json in every version, the golden records'
coverage, a flatbuffer that does not reproduce the Keras model refused, and no TensorFlow in the processor."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from driftline.bundle import FLATBUFFER_FILE, ModelBundle
from driftline.contract import Contract
from driftline.errors import IntegrityError
from driftline.golden import GOLDEN_FILE, TOLERANCE, Golden, golden_records
from driftline.registry import Registry
from driftline.sources import AgrawalSource
from driftline.validation import Validator
from trainer.release import register_candidate
from trainer.training import Candidate, TrainConfig, fit_candidate

QUICK = TrainConfig(max_epochs=5, hidden_layers=(16,), learning_rate=1e-2, class_weight="none", seed=3)


def quick_candidate(**config: object) -> Candidate:
    source = AgrawalSource(seed=11)
    return fit_candidate(source.frame(2000), source.contract, QUICK.model_copy(update=config))


@pytest.fixture(scope="module")
def candidate() -> Candidate:
    return quick_candidate()


@pytest.fixture(scope="module")
def released(candidate: Candidate, tmp_path_factory: pytest.TempPathFactory) -> tuple[Registry, int]:
    registry = Registry(tmp_path_factory.mktemp("registry"), "golden")
    return registry, register_candidate(registry, candidate, source_description="test", promote=True)


def test_golden_records_cover_every_branch_of_the_preprocessing(candidate: Candidate) -> None:
    cases = dict(golden_records(candidate.contract, candidate.preprocessor, candidate.profile))
    for feature in candidate.contract.features:
        name = feature.name
        assert (f"{name}=null" in cases) == feature.nullable
        if feature.is_numeric:
            assert {f"{name}=far_below", f"{name}=far_above"} <= set(cases)
            params = next(p for p in candidate.preprocessor.spec.features if p.name == name)
            edges = [c for c in cases if c.startswith(f"{name}=edge[")]
            assert len(edges) == len(params.edges or ())  # every bin boundary of the numeric encoding
            if feature.min is not None:
                assert cases[f"{name}=min"][name] == feature.min
                assert cases[f"{name}=far_below"][name] >= feature.min  # extremes stay valid records
        else:
            assert cases[f"{name}=unseen"][name] not in candidate.preprocessor.categories(name)
            assert {f"{name}={c}" for c in candidate.preprocessor.categories(name)} <= set(cases)
    assert sum(c.startswith("reference[") for c in cases) == 32
    batch, rejections = Validator(candidate.contract).validate_objects(cases.values())
    assert not rejections and len(batch) == len(cases)  # every golden record is a valid record
    assert len({r["id"] for r in cases.values()}) == len(cases)


def test_a_release_ships_the_flatbuffer_and_golden_records_the_worker_reproduces(
    candidate: Candidate, released: tuple[Registry, int]
) -> None:
    registry, version = released
    files = registry.verify(version).files
    assert {FLATBUFFER_FILE, GOLDEN_FILE} <= set(files)  # listed and hashed in the manifest
    path = registry.path(version)
    golden = Golden.load(path / GOLDEN_FILE)
    assert golden.tolerance == TOLERANCE and golden.expected.shape == (len(golden.cases),)
    # the expected outputs are the Keras model's own (its tf.function), not the flatbuffer's
    validator = Validator(candidate.contract)
    keras = golden.verify(validator, lambda c: candidate.scorer.reference(candidate.preprocessor.transform(c)))
    assert keras == 0.0
    bundle = ModelBundle.load(registry, version)
    assert bundle.scorer.runtime == "litert"
    gap = golden.verify(validator, lambda c: bundle.predict(c).scores)
    assert gap <= TOLERANCE


def test_a_flatbuffer_that_does_not_reproduce_the_keras_model_is_refused(
    candidate: Candidate, released: tuple[Registry, int], tmp_path: Path
) -> None:
    registry, version = released
    other = Registry(tmp_path / "other", "golden")
    # the same data, split and preprocessing (so the same input width), other weights
    other_version = register_candidate(other, quick_candidate(learning_rate=3e-3), source_description="test",
                                       promote=False)  # fmt: skip
    path = registry.path(version)
    files = {name: path / name for name in registry.manifest(version).files}
    files[FLATBUFFER_FILE] = other.path(other_version) / FLATBUFFER_FILE  # hashes fine, model wrong
    swapped = registry.register(files)
    with pytest.raises(IntegrityError, match=r"golden records: the served model differs from the Keras model by"):
        ModelBundle.load(registry, swapped)
    assert registry.alias("production").version == version  # nothing moved


def test_golden_json_round_trips_and_refuses_outputs_out_of_tolerance(tmp_path: Path) -> None:
    contract = Contract.model_validate({
        "name": "tiny", "label": {"name": "y", "task": "multiclass", "classes": ["a", "b", "c"]},
        "features": [{"name": "x", "kind": "numeric"}],
    })  # fmt: skip
    records = tuple(f'{{"id":"g{i}","event_time":0,"x":{i}}}'.encode() for i in range(3))
    expected = np.array([[0.2, 0.3, 0.5], [0.1, 0.1, 0.8], [1.0, 0.0, 0.0]])
    golden = Golden(("low", "middle", "high"), records, expected)
    golden.save(tmp_path / GOLDEN_FILE)
    loaded = Golden.load(tmp_path / GOLDEN_FILE)
    assert loaded.cases == golden.cases and loaded.records == golden.records
    np.testing.assert_array_equal(loaded.expected, expected)
    validator = Validator(contract)
    assert loaded.verify(validator, lambda c: expected + TOLERANCE / 2) == pytest.approx(TOLERANCE / 2)
    off = expected.copy()
    off[1, 2] += 3 * TOLERANCE
    with pytest.raises(IntegrityError, match=r"by 3e-05 on case 'middle' \(tolerance 1e-05\); 1 of 3 cases"):
        loaded.verify(validator, lambda c: off)
    with pytest.raises(IntegrityError, match=r"on case 'low'.*3 of 3 cases differ"):
        loaded.verify(validator, lambda c: np.full_like(expected, np.nan))
    with pytest.raises(IntegrityError, match=r"outputs of shape \(3,\), the Keras model gave \(3, 3\)"):
        loaded.verify(validator, lambda c: expected[:, 0])
    (tmp_path / "bad.json").write_bytes(b'{"format": 1, "cases": []}')
    with pytest.raises(IntegrityError, match=r"golden\.json cannot be read"):
        Golden.load(tmp_path / "bad.json")


def test_the_processor_loads_and_serves_a_version_without_tensorflow(released: tuple[Registry, int]) -> None:
    """No tensorflow or keras module in a process that imports the worker and the HTTP server (driftline serve) and
    loads a version as they do."""
    registry, version = released
    script = f"""
import sys
import driftline.cli, processors.cli, processors.app, processors.worker, processors.supervisor, processors.serve
from driftline.registry import Registry
from processors.model_slot import load_step
step = load_step(Registry({str(registry.root)!r}, {registry.model!r}), {version})
processors.serve.create_serve_app(processors.serve.Settings())
assert step.bundle.scorer.runtime == "litert"
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras", "tensorboard"))
print(len(heavy), heavy[:5])
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "0 []"
