"""`driftline models export N --format onnx|savedmodel DIR`: a portable bundle that scores the golden records from its
own files (by the recipe its README gives), a refused non-empty folder, and versions released without model.onnx."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from driftline.bundle import ModelBundle
from driftline.golden import GOLDEN_FILE, TOLERANCE, Golden
from driftline.onnx_export import ONNX_FILE
from driftline.registry import Registry
from driftline.sources import AgrawalSource
from trainer.cli import main
from trainer.export import export_version
from trainer.release import register_candidate
from trainer.training import TrainConfig, fit_candidate

QUICK = TrainConfig(max_epochs=4, hidden_layers=(16,), learning_rate=1e-2, class_weight="none", seed=7)
MODEL = "exported"
BUNDLE_FILES = {"preprocessing.json", "contract.yaml", GOLDEN_FILE, "metadata.json", "README.txt"}


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> tuple[Registry, int]:
    source = AgrawalSource(seed=13)
    candidate = fit_candidate(source.frame(1500), source.contract, QUICK)
    registry = Registry(tmp_path_factory.mktemp("registry"), MODEL)
    return registry, register_candidate(registry, candidate, source_description="test", promote=True)


@pytest.fixture
def cli_env(released: tuple[Registry, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Registry:
    registry, _ = released
    monkeypatch.setenv("DRIFTLINE_REGISTRY__ROOT", str(registry.root))
    monkeypatch.setenv("DRIFTLINE_REGISTRY__MODEL_NAME", MODEL)
    monkeypatch.setenv("DRIFTLINE_STACK__DATA_DIR", str(tmp_path / "stack"))  # no stack keys: unsigned registry
    return registry


def readme_scores(bundle: Path, golden: Golden) -> np.ndarray:
    """Run the README's scoring recipe, as printed, on the golden records, inside the bundle folder."""
    readme = (bundle / "README.txt").read_text()
    block = readme.split("How to score", 1)[1].split("\n\n")[1]  # the indented block under the heading
    recipe = "\n".join(line.removeprefix("    ") for line in block.splitlines())
    namespace: dict[str, Any] = {"records": [orjson.loads(r) for r in golden.records]}
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(bundle)
        exec(recipe, namespace)
    assert namespace["rejected"] == []
    scores = np.asarray(namespace["scores"], dtype=np.float64)
    return scores[:, 0] if scores.shape[1] == 1 else scores


def test_an_onnx_bundle_scores_the_golden_records_by_its_own_readme(
    released: tuple[Registry, int], cli_env: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry, version = released
    target = tmp_path / "bundle"
    assert main(["models", "export", str(version), "--format", "onnx", str(target)]) == 0
    assert f"exported version {version} as onnx to {target}" in capsys.readouterr().out
    assert {p.name for p in target.iterdir()} == BUNDLE_FILES | {ONNX_FILE}
    assert (target / ONNX_FILE).read_bytes() == (registry.path(version) / ONNX_FILE).read_bytes()
    metadata = orjson.loads((target / "metadata.json").read_bytes())
    assert metadata["version"] == version and metadata["fingerprint"] == registry.verify(version).fingerprint
    assert metadata["input"]["name"] == "features" and metadata["output"]["shape"] == [None, 1]
    assert len(metadata["input"]["columns"]) == metadata["input"]["shape"][1]
    for name, digest in metadata["files"].items():  # every model and data file, hashed
        assert registry.verify(version).files.get(name, digest) == digest
    golden = Golden.load(target / GOLDEN_FILE)
    scores = readme_scores(target, golden)
    assert scores.shape == golden.expected.shape
    assert np.abs(scores - golden.expected).max() <= TOLERANCE


def test_a_savedmodel_bundle_loads_back_with_tensorflow_and_scores_the_golden_records(
    released: tuple[Registry, int], tmp_path: Path
) -> None:
    import tensorflow as tf

    registry, version = released
    target = tmp_path / "empty"
    target.mkdir()  # an existing empty folder is fine
    exported = export_version(registry, version, "savedmodel", target)
    assert exported.max_difference <= TOLERANCE
    assert {p.name for p in target.iterdir()} == BUNDLE_FILES | {"saved_model"}
    golden = Golden.load(target / GOLDEN_FILE)
    assert np.abs(readme_scores(target, golden) - golden.expected).max() <= TOLERANCE
    loaded = tf.saved_model.load(str(target / "saved_model"))
    X = np.zeros((3, orjson.loads((target / "metadata.json").read_bytes())["input"]["shape"][1]), np.float32)
    out = loaded.signatures["serving_default"](features=tf.constant(X))["output_0"].numpy()
    assert out.shape == (3, 1) and np.all((out >= 0) & (out <= 1))


def test_a_folder_that_is_not_empty_is_refused_in_one_line_and_left_alone(
    released: tuple[Registry, int], cli_env: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, version = released
    target = tmp_path / "taken"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    assert main(["models", "export", str(version), "--format", "savedmodel", str(target)]) == 1
    err = capsys.readouterr().err.strip()
    assert re.fullmatch(r"python -m trainer: .*taken exists and is not an empty folder; export into a new or empty one",
                        err), err  # fmt: skip
    assert [p.name for p in target.iterdir()] == ["notes.txt"] and [p.name for p in tmp_path.iterdir()] == ["taken"]
    assert main(["models", "export", "99", str(tmp_path / "new")]) == 1
    assert "has no version 99" in capsys.readouterr().err and not (tmp_path / "new").exists()


@pytest.mark.parametrize("missing", [(ONNX_FILE,), (ONNX_FILE, GOLDEN_FILE)])
def test_a_version_released_without_model_onnx_serves_and_exports_one_built_from_its_keras_model(
    released: tuple[Registry, int], missing: tuple[str, ...], tmp_path: Path
) -> None:
    registry, version = released
    path = registry.path(version)
    old = registry.register({name: path / name for name in registry.verify(version).files if name not in missing})
    if GOLDEN_FILE not in missing:
        assert ModelBundle.load(registry, old).version == old  # workers serve model.tflite: no model.onnx needed
    exported = export_version(registry, old, "onnx", tmp_path / "bundle")
    assert exported.onnx_built and exported.max_difference <= TOLERANCE
    assert (tmp_path / "bundle" / ONNX_FILE).read_bytes() == (path / ONNX_FILE).read_bytes()  # the same model
    rebuilt, original = Golden.load(tmp_path / "bundle" / GOLDEN_FILE), Golden.load(path / GOLDEN_FILE)
    assert rebuilt.records == original.records
    assert np.abs(rebuilt.expected - original.expected).max() <= TOLERANCE
    assert orjson.loads((tmp_path / "bundle" / "metadata.json").read_bytes())["model_file"]["built_at_export"]
