"""A registered model version as one unit: contract, persisted preprocessing, drift profile, and scorer.

``ModelBundle.load`` verifies every hash of the version before anything is parsed, then loads the LiteRT
flatbuffer the release compiled (no TensorFlow or Keras import: a worker only runs it), checks that the whole
serving path reproduces the Keras model's outputs on the golden records, and warms it up on the profile's
reference sample. ``predict`` is the one scoring path, used alike by the stream processor, the trainer's
evaluation gate and the benchmarks. The Keras model (``model.keras``) stays in the version as the source of truth
for the trainer (warm starts) and for anyone who wants it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from driftline.contract import Contract, Task
from driftline.errors import IntegrityError, RegistryError
from driftline.golden import GOLDEN_FILE, Golden
from driftline.litert import LiteRTScorer
from driftline.preprocessing import Preprocessor, TransformStats
from driftline.profile import Profile
from driftline.registry import Registry
from driftline.validation import Validator

logger = logging.getLogger(__name__)

FLATBUFFER_FILE = "model.tflite"
# The files every servable version has (the registry itself requires only model.keras).
REQUIRED_FILES = ("model.keras", FLATBUFFER_FILE, GOLDEN_FILE, "preprocessing.json", "profile.json", "contract.yaml",
                  "metrics.json")  # fmt: skip


@dataclass(frozen=True)
class Scored:
    """Scores of a batch: probabilities (binary: (n,) positive class; multiclass: (n, k)) and predicted labels."""

    scores: np.ndarray
    labels: list[Any]
    stats: TransformStats


@dataclass(frozen=True)
class ModelBundle:
    model_name: str
    version: int
    fingerprint: str
    contract: Contract
    preprocessor: Preprocessor
    profile: Profile
    scorer: LiteRTScorer
    metrics: Mapping[str, Any]

    @classmethod
    def load(cls, registry: Registry, version: int, *, warm_up: bool = True) -> ModelBundle:
        """Verify, load, check against the golden records and (by default) warm up a version. Any problem is a
        RegistryError; nothing half-loads."""
        manifest = registry.verify(version)
        missing = [name for name in REQUIRED_FILES if name not in manifest.files]
        if missing:
            raise IntegrityError(
                f"version {version} of {registry.model!r} lacks {missing}; it cannot be served (versions released "
                "before workers ran LiteRT alone lack model.tflite and golden.json: retrain to release a new one)"
            )
        path = registry.path(version)
        contract = Contract.from_yaml(path / "contract.yaml")
        preprocessor = Preprocessor.load(path / "preprocessing.json")
        profile = Profile.load(path / "profile.json")
        scorer = LiteRTScorer((path / FLATBUFFER_FILE).read_bytes(), preprocessor.width)
        gap = Golden.load(path / GOLDEN_FILE).verify(Validator(contract),
                                                     lambda columns: scorer(preprocessor.transform(columns)))
        logger.info("model=%s model_version=%d reproduces its golden records (max difference %.3g)", registry.model,
                    version, gap)  # fmt: skip
        bundle = cls(
            model_name=registry.model,
            version=version,
            fingerprint=manifest.fingerprint,
            contract=contract,
            preprocessor=preprocessor,
            profile=profile,
            scorer=scorer,
            metrics=orjson.loads((path / "metrics.json").read_bytes()),
        )
        if warm_up:
            bundle.warm_up()
        return bundle

    @classmethod
    def load_production(cls, registry: Registry, *, warm_up: bool = True) -> ModelBundle:
        alias = registry.alias("production")
        if alias is None:
            raise RegistryError(
                f"model {registry.model!r} has no production version yet; train one with `driftline train`"
            )
        return cls.load(registry, alias.version, warm_up=warm_up)

    def warm_up(self) -> None:
        """Score the reference sample: outputs must be finite probabilities of the right shape."""
        sample = self.profile.sample_columns()
        self.scorer.warm_up(self.preprocessor.transform(sample))

    def predict(self, columns: Mapping[str, np.ndarray]) -> Scored:
        """Preprocess with the persisted parameters and score, in one batched call."""
        X, stats = self.preprocessor.transform_with_stats(columns)
        scores = self.scorer(X)
        return Scored(scores=scores, labels=self.labels_of(scores), stats=stats)

    def labels_of(self, scores: np.ndarray) -> list[Any]:
        classes = list(self.contract.label.classes)
        if self.contract.label.task is Task.BINARY and scores.ndim == 1:
            picked = (scores >= 0.5).astype(np.int64)
        else:
            picked = np.argmax(scores, axis=1)
        return [classes[i] for i in picked.tolist()]
