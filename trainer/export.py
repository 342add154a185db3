"""`driftline models export`: a version as a portable bundle that scores without Driftline's registry or workers.

A bundle is one folder: the model in the asked format (``model.onnx``, or a TensorFlow SavedModel in
``saved_model/``), the persisted preprocessing (``preprocessing.json``), the data contract (``contract.yaml``), the
golden records (``golden.json``: raw records and the Keras model's outputs for them), ``metadata.json`` (inputs,
outputs, classes, fingerprints, hashes) and ``README.txt`` (how to score). Before anything is written the exported
model scores the golden records through the preprocessing like the Keras model, within the golden tolerance. The
bundle is made in a temporary folder beside the target and renamed into place, so it is never half written.

Versions released before model.onnx existed get one built from their ``model.keras`` here (and checked the same
way); versions without golden records get them computed from the Keras model.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from driftline.contract import Contract, Task
from driftline.errors import DriftlineError, IntegrityError
from driftline.golden import GOLDEN_FILE, Golden
from driftline.modelio import load_keras
from driftline.onnx_export import INPUT_NAME, ONNX_FILE, OPSET, OUTPUT_NAME, onnx_bytes
from driftline.onnx_scorer import verify_onnx
from driftline.preprocessing import Preprocessor
from driftline.profile import Profile
from driftline.registry import Registry
from driftline.validation import Validator

__all__ = ["FORMATS", "SAVED_MODEL_DIR", "Exported", "export_version"]

logger = logging.getLogger(__name__)

FORMATS = ("onnx", "savedmodel")
SAVED_MODEL_DIR = "saved_model"
METADATA_FILE = "metadata.json"
README_FILE = "README.txt"
_COPIED = ("preprocessing.json", "contract.yaml")


@dataclass(frozen=True)
class Exported:
    """What an export wrote: the bundle folder, its format, the version, and the largest golden difference."""

    directory: Path
    format: str
    version: int
    max_difference: float
    onnx_built: bool  # model.onnx was made here from model.keras (a version released without one)


@dataclass(frozen=True)
class _Version:
    path: Path
    contract: Contract
    preprocessor: Preprocessor
    fingerprint: str
    files: Mapping[str, str]


def export_version(registry: Registry, version: int, format: str, directory: Path) -> Exported:
    """Write ``version`` of ``registry``'s model as a ``format`` bundle ("onnx" or "savedmodel") into
    ``directory``, which must not exist or be empty. DriftlineError (one line) for a bad folder or version."""
    if format not in FORMATS:
        raise DriftlineError(f"export format should be one of {list(FORMATS)}, found {format!r}")
    directory = Path(directory)
    _check_target(directory)
    manifest = registry.verify(version)  # every hash (and the signature) before anything is read
    path = registry.path(version)
    source = _Version(path, Contract.from_yaml(path / "contract.yaml"), Preprocessor.load(path / "preprocessing.json"),
                      manifest.fingerprint, dict(manifest.files))  # fmt: skip
    model: Any = None

    def keras_model() -> Any:
        nonlocal model
        if model is None:
            model = load_keras(path / "model.keras")
        return model

    golden = _golden(source, keras_model)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.tmp-", dir=directory.parent))
    try:
        os.chmod(tmp, 0o755)
        onnx_built = False
        if format == "onnx":
            onnx_built = ONNX_FILE not in source.files
            model_bytes = onnx_bytes(keras_model()) if onnx_built else (path / ONNX_FILE).read_bytes()
            gap = verify_onnx(model_bytes, golden, source.contract, source.preprocessor)
            (tmp / ONNX_FILE).write_bytes(model_bytes)
            model_files = [ONNX_FILE]
        else:
            gap = _write_saved_model(keras_model(), tmp / SAVED_MODEL_DIR, golden, source)
            model_files = [SAVED_MODEL_DIR]
        for name in _COPIED:
            shutil.copyfile(path / name, tmp / name)
        if GOLDEN_FILE in source.files:
            shutil.copyfile(path / GOLDEN_FILE, tmp / GOLDEN_FILE)
        else:
            golden.save(tmp / GOLDEN_FILE)
        metadata = _metadata(registry.model, version, format, source, golden, gap, onnx_built, tmp)
        (tmp / METADATA_FILE).write_bytes(orjson.dumps(metadata, option=orjson.OPT_INDENT_2))
        (tmp / README_FILE).write_text(_readme(metadata, model_files))
        if directory.exists():
            directory.rmdir()  # empty, checked above
        os.rename(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("exported model=%s model_version=%d format=%s to=%s max_difference=%.3g", registry.model, version,
                format, directory, gap)  # fmt: skip
    return Exported(directory, format, version, gap, onnx_built)


def _check_target(directory: Path) -> None:
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise DriftlineError(f"{directory} exists and is not an empty folder; export into a new or empty one")


def _golden(source: _Version, keras_model: Callable[[], Any]) -> Golden:
    """The version's golden records, or (a version released without them) the Keras model's outputs for them."""
    if GOLDEN_FILE in source.files:
        return Golden.load(source.path / GOLDEN_FILE)
    from driftline.scoring import Scorer

    scorer = Scorer(keras_model(), source.preprocessor.width, runtime="tensorflow")
    profile = Profile.load(source.path / "profile.json")
    return Golden.build(source.contract, source.preprocessor, profile,
                        lambda columns: scorer.reference(source.preprocessor.transform(columns)))  # fmt: skip


def _write_saved_model(model: Any, target: Path, golden: Golden, source: _Version) -> float:
    """Keras's ``tf_saved_model`` export, loaded back with TensorFlow and checked on the golden records."""
    import tensorflow as tf

    model.export(str(target), format="tf_saved_model", verbose=False)
    loaded = tf.saved_model.load(str(target))

    def predict(columns: Mapping[str, np.ndarray]) -> np.ndarray:
        out = np.asarray(loaded.serve(source.preprocessor.transform(columns).astype(np.float32)))
        return out[:, 0] if out.shape[1] == 1 else out

    try:
        return golden.verify(Validator(source.contract), predict)
    except IntegrityError as exc:
        raise IntegrityError(f"the SavedModel does not score like the Keras model: {exc}") from exc


def _metadata(model_name: str, version: int, format: str, source: _Version, golden: Golden, gap: float,
              onnx_built: bool, bundle: Path) -> dict[str, Any]:  # fmt: skip
    contract, preprocessor = source.contract, source.preprocessor
    binary = contract.label.task is Task.BINARY
    k = 1 if binary else len(contract.label.classes)
    if format == "onnx":
        model = {"file": ONNX_FILE, "runtime": "any ONNX runtime (onnxruntime)", "opset": OPSET,
                 "built_at_export": onnx_built}  # fmt: skip
        inputs, outputs = INPUT_NAME, OUTPUT_NAME
    else:
        model = {"folder": SAVED_MODEL_DIR, "runtime": "TensorFlow", "signatures": ["serve", "serving_default"]}
        inputs, outputs = INPUT_NAME, "output_0"  # names of Keras's serving_default signature
    meaning = (f"probability of class {contract.label.classes[1]!r}" if binary
               else "probability of each class, in the order of classes")  # fmt: skip
    golden_summary = {"file": GOLDEN_FILE, "cases": len(golden.cases), "tolerance": golden.tolerance,
                      "max_difference": gap}  # fmt: skip
    return {
        "format": format,
        "model": model_name,
        "version": version,
        "fingerprint": source.fingerprint,
        "contract": contract.name,
        "task": contract.label.task.value,
        "classes": list(contract.label.classes),
        "model_file": model,
        "input": {
            "name": inputs,
            "dtype": "float32",
            "shape": [None, preprocessor.width],
            "columns": list(preprocessor.feature_names_out),
            "made_by": "preprocessing.json applied to raw records (see README.txt)",
        },
        "output": {"name": outputs, "dtype": "float32", "shape": [None, k], "meaning": meaning},
        "preprocessing_fingerprint": preprocessor.fingerprint,
        "golden": golden_summary,
        "files": _hashes(bundle),
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _hashes(bundle: Path) -> dict[str, str]:
    return {str(p.relative_to(bundle)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(bundle.rglob("*")) if p.is_file()}  # fmt: skip


def _readme(metadata: Mapping[str, Any], model_files: list[str]) -> str:
    inp, out = metadata["input"], metadata["output"]
    if metadata["format"] == "onnx":
        load = (f"    import onnxruntime\n    session = onnxruntime.InferenceSession(\"{ONNX_FILE}\")\n"
                f"    scores = session.run([\"{out['name']}\"], {{\"{inp['name']}\": X}})[0]")  # fmt: skip
    else:
        load = (f"    import tensorflow as tf\n    model = tf.saved_model.load(\"{SAVED_MODEL_DIR}\")\n"
                "    scores = model.serve(X).numpy()")  # fmt: skip
    return f"""Model {metadata["model"]} version {metadata["version"]} ({metadata["contract"]}, {metadata["task"]}),
exported by Driftline as {metadata["format"]}. Fingerprint {metadata["fingerprint"]}.

Files: {", ".join(model_files)} (the model), preprocessing.json (the fitted preprocessing, JSON), contract.yaml
(the data contract: fields, kinds, bounds), golden.json (raw records with the outputs the model must give),
metadata.json (all of this, with sha256 of every file).

Input:  {inp["name"]}, float32, shape (batch, {inp["shape"][1]}): raw records turned into columns by the
        preprocessing in preprocessing.json (fingerprint {metadata["preprocessing_fingerprint"]}).
Output: {out["name"]}, float32, shape (batch, {out["shape"][1]}): {out["meaning"]}.
Classes: {metadata["classes"]}

How to score (Python, with Driftline installed for the preprocessing):

    from driftline.contract import Contract
    from driftline.preprocessing import Preprocessor
    from driftline.validation import Validator
    batch, rejected = Validator(Contract.from_yaml("contract.yaml")).validate_objects(records)  # list of dicts
    X = Preprocessor.load("preprocessing.json").transform(batch.columns).astype("float32")
{load}

Check: the records in golden.json, scored this way, give their "expected" outputs within
{metadata["golden"]["tolerance"]:g} (largest difference at export: {metadata["golden"]["max_difference"]:.3g}).
"""
