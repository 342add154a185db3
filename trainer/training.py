"""Fit a candidate model: seeded split, preprocessing fitted on the training split, a Keras MLP, early stopping.

The recipe (DESIGN sections 3-4): labels → class indices in the contract's order; a seeded train/validation/test
split, stratified when every class is large enough; the :class:`~driftline.preprocessing.Preprocessor` fitted on
the *training* rows only; an MLP trained with Adam and early stopping on validation loss (best weights restored);
metrics on the test rows through the same batched :class:`~driftline.scoring.Scorer` serving uses; and the drift
:class:`~driftline.profile.Profile` of the training rows and the model's scores on them.

TensorFlow is imported inside the functions that need it, so importing this module stays cheap.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from driftline.contract import Contract
from driftline.errors import DataError
from driftline.modelio import require_keras
from driftline.preprocessing import PreprocessingOptions, Preprocessor, columns_from_frame
from driftline.profile import Profile
from trainer.evaluation import evaluate

__all__ = ["Candidate", "Split", "TrainConfig", "build_model", "class_indices", "class_weights",
           "fit_candidate", "split_indices"]  # fmt: skip

logger = logging.getLogger(__name__)


class TrainConfig(BaseModel):
    """How to train. ``class_weight="auto"`` uses balanced weights when the smallest class's share of the
    training rows is below ``imbalance_ratio / k`` (k classes): below 40% for a binary label. The default,
    ``none``, suits a gate that scores accuracy (reweighting trades accuracy for the smaller class's recall)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    hidden_layers: tuple[int, ...] = (64, 32)
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    learning_rate: float = Field(1e-3, gt=0.0)
    batch_size: int = Field(256, ge=1)
    max_epochs: int = Field(50, ge=1)
    patience: int = Field(5, ge=0, description="epochs without a lower validation loss before stopping")
    validation_fraction: float = Field(0.15, gt=0.0, lt=1.0)
    test_fraction: float = Field(0.15, gt=0.0, lt=1.0)
    seed: int = Field(7, ge=0)
    class_weight: Literal["auto", "balanced", "none"] = "none"
    imbalance_ratio: float = Field(0.8, gt=0.0, le=1.0)
    preprocessing: PreprocessingOptions = PreprocessingOptions()

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        if any(units < 1 for units in self.hidden_layers):
            raise ValueError(f"hidden layer sizes must be >= 1, found {list(self.hidden_layers)}")
        if self.validation_fraction + self.test_fraction >= 0.9:
            raise ValueError(
                f"validation + test fractions must leave at least 10% for training, found "
                f"{self.validation_fraction} + {self.test_fraction}"
            )
        return self


@dataclass(frozen=True)
class Split:
    """Row positions of each part (sorted, disjoint, covering every row) and whether classes were stratified."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    stratified: bool

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "validation": len(self.validation), "test": len(self.test)}


@dataclass(frozen=True)
class Candidate:
    """A trained, evaluated model with everything a release needs; not yet registered."""

    contract: Contract
    config: TrainConfig
    preprocessor: Preprocessor
    model: Any  # keras.Model
    scorer: Any  # driftline.scoring.Scorer
    profile: Profile
    metrics: dict[str, Any]  # test-split metrics (trainer.evaluation.evaluate)
    history: dict[str, list[float]]  # Keras History.history: loss, accuracy, val_loss, val_accuracy
    epochs_run: int
    best_epoch: int  # 1-based; its weights are the model's
    class_weight: dict[int, float] | None
    split: Split
    rows: dict[str, int]  # input, unlabeled, train, validation, test
    timings: dict[str, float]  # seconds per stage and "total"
    started_at: datetime
    finished_at: datetime

    @property
    def seconds(self) -> float:
        return self.timings["total"]

    @property
    def stopped_early(self) -> bool:
        return self.epochs_run < self.config.max_epochs


def class_indices(labels: pd.Series | np.ndarray, contract: Contract) -> np.ndarray:
    """Labels → int64 indices into ``contract.label.classes`` (-1 where the label is missing).

    A label matches a class by value, or by text (``"1"`` in a CSV matches class ``1``); any other label is a
    DataError naming it, because silently dropping a class would train a different task.
    """
    classes = contract.label.classes
    by_value: dict[Any, int] = {c: i for i, c in enumerate(classes)}
    by_text = {str(c): i for i, c in enumerate(classes)}
    codes, uniques = pd.factorize(pd.Series(np.asarray(labels, dtype=object)), use_na_sentinel=True)
    table = np.empty(len(uniques) + 1, dtype=np.int64)
    unknown = []
    for j, value in enumerate(uniques.tolist()):
        index = by_value.get(value, by_text.get(str(value)))
        if index is None:
            unknown.append(value)
        table[j] = -1 if index is None else index
    if unknown:
        raise DataError(
            f"labels {sorted(map(str, unknown))[:10]} are not classes of contract {contract.name!r}; "
            f"expected one of {list(classes)}"
        )
    table[-1] = -1
    return table[codes]


def split_indices(
    y: np.ndarray, *, validation_fraction: float = 0.15, test_fraction: float = 0.15, seed: int = 7
) -> Split:
    """A seeded train/validation/test split of ``len(y)`` rows; the same inputs give the same split.

    Stratified (each class split in the given proportions) when every class has enough rows to put at least
    one in the smaller held-out part; otherwise one seeded permutation of all rows.
    """
    y = np.asarray(y)
    n = y.size
    classes, counts = np.unique(y, return_counts=True)
    needed = math.ceil(1.0 / min(validation_fraction, test_fraction))
    stratified = len(classes) > 1 and int(counts.min()) >= needed
    groups = [np.flatnonzero(y == c) for c in classes] if stratified else [np.arange(n)]
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {"train": [], "validation": [], "test": []}
    for group in groups:
        shuffled = rng.permutation(group)
        n_test = int(len(group) * test_fraction + 0.5)
        n_val = int(len(group) * validation_fraction + 0.5)
        parts["test"].append(shuffled[:n_test])
        parts["validation"].append(shuffled[n_test : n_test + n_val])
        parts["train"].append(shuffled[n_test + n_val :])
    split = Split(
        **{name: np.sort(np.concatenate(p)).astype(np.int64) for name, p in parts.items()},
        stratified=stratified,
    )
    empty = [name for name, size in split.sizes().items() if size == 0]
    if empty:
        raise DataError(f"{n} labeled rows are too few to split: the {', '.join(empty)} part would be empty")
    return split


def class_weights(y: np.ndarray, n_classes: int, config: TrainConfig) -> dict[int, float] | None:
    """Keras ``class_weight``: balanced (``n / (present classes * count)``) when the policy asks for it."""
    if config.class_weight == "none":
        return None
    counts = np.bincount(y, minlength=n_classes)
    present = counts > 0
    if config.class_weight == "auto" and counts[present].min() / y.size >= config.imbalance_ratio / n_classes:
        return None
    weights = np.where(present, y.size / (int(present.sum()) * np.maximum(counts, 1)), 1.0)
    return {i: float(w) for i, w in enumerate(weights.tolist())}


def build_model(width: int, n_classes: int, config: TrainConfig) -> Any:
    """A compiled MLP: ``Input(width)`` → (Dense+ReLU [→ Dropout]) per hidden layer → sigmoid unit (binary)
    or softmax over ``n_classes`` units. Built-in layers only, so it loads under ``safe_mode=True``."""
    keras = require_keras()
    inputs = keras.Input(shape=(width,), name="features")
    x = inputs
    for i, units in enumerate(config.hidden_layers, start=1):
        x = keras.layers.Dense(units, activation="relu", name=f"hidden_{i}")(x)
        if config.dropout > 0:
            x = keras.layers.Dropout(config.dropout, seed=config.seed + i, name=f"dropout_{i}")(x)
    if n_classes == 2:
        outputs = keras.layers.Dense(1, activation="sigmoid", name="probability")(x)
        loss, accuracy = "binary_crossentropy", keras.metrics.BinaryAccuracy(name="accuracy")
    else:
        outputs = keras.layers.Dense(n_classes, activation="softmax", name="probabilities")(x)
        loss, accuracy = "sparse_categorical_crossentropy", keras.metrics.SparseCategoricalAccuracy(name="accuracy")
    model = keras.Model(inputs, outputs, name="driftline_mlp")
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), loss=loss, metrics=[accuracy])
    return model


def fit_candidate(frame: pd.DataFrame, contract: Contract, config: TrainConfig | None = None) -> Candidate:
    """Train and evaluate one candidate on ``frame`` (as :func:`driftline.sources.to_frame` builds it).

    Rows without a label are left out (counted in ``rows["unlabeled"]``). Raises DataError when the frame
    does not fit the contract or is too small to split.
    """
    config = config or TrainConfig()
    started_at, t0 = datetime.now(UTC), time.perf_counter()
    timings: dict[str, float] = {}
    if contract.label.name not in frame.columns:
        raise DataError(f"the training frame has no label column {contract.label.name!r}")
    labels = class_indices(frame[contract.label.name], contract)
    labeled = np.flatnonzero(labels >= 0)
    if labeled.size < len(frame):
        logger.warning("leaving out %d unlabeled rows of %d", len(frame) - labeled.size, len(frame))
    y = labels[labeled]
    k = len(contract.label.classes)
    split = split_indices(
        y, validation_fraction=config.validation_fraction, test_fraction=config.test_fraction, seed=config.seed
    )
    parts = {name: frame.iloc[labeled[getattr(split, name)]] for name in ("train", "validation", "test")}
    columns = {name: columns_from_frame(part, contract) for name, part in parts.items()}
    targets = {name: y[getattr(split, name)] for name in parts}
    timings["split"] = time.perf_counter() - t0

    t = time.perf_counter()
    preprocessor = Preprocessor.fit(columns["train"], contract, config.preprocessing)
    X = {name: preprocessor.transform(cols) for name, cols in columns.items()}
    timings["preprocess"] = time.perf_counter() - t

    t = time.perf_counter()
    keras = require_keras()
    keras.utils.set_random_seed(config.seed)
    model = build_model(preprocessor.width, k, config)
    weights = class_weights(targets["train"], k, config)

    def fit_target(name: str) -> np.ndarray:
        return targets[name].astype(np.float32)[:, None] if k == 2 else targets[name]

    early = keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.patience, restore_best_weights=True)
    progress = keras.callbacks.LambdaCallback(on_epoch_end=_log_epoch)
    result = model.fit(
        X["train"], fit_target("train"), validation_data=(X["validation"], fit_target("validation")),
        epochs=config.max_epochs, batch_size=config.batch_size, class_weight=weights,
        callbacks=[early, progress], shuffle=True, verbose=0,
    )  # fmt: skip
    history = {key: [float(v) for v in values] for key, values in result.history.items()}
    epochs_run = len(history["loss"])
    best_epoch = int(np.argmin(history["val_loss"])) + 1
    timings["fit"] = time.perf_counter() - t

    t = time.perf_counter()
    from driftline.scoring import Scorer

    scorer = Scorer(model, preprocessor.width)
    metrics = evaluate(targets["test"], scorer(X["test"]))
    timings["evaluate"] = time.perf_counter() - t

    t = time.perf_counter()
    profile = Profile.fit(columns["train"], contract, scorer(X["train"]), preprocessor=preprocessor, seed=config.seed)
    timings["profile"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t0
    rows = {"input": len(frame), "unlabeled": len(frame) - int(labeled.size), **split.sizes()}
    logger.info(
        "candidate trained epochs=%d best_epoch=%d test_accuracy=%.4f test_auc=%.4f seconds=%.1f",
        epochs_run, best_epoch, metrics["accuracy"], metrics["roc_auc"], timings["total"],
    )  # fmt: skip
    return Candidate(
        contract=contract, config=config, preprocessor=preprocessor, model=model, scorer=scorer,
        profile=profile, metrics=metrics, history=history, epochs_run=epochs_run, best_epoch=best_epoch,
        class_weight=weights, split=split, rows=rows, timings=timings, started_at=started_at,
        finished_at=datetime.now(UTC),
    )  # fmt: skip


def _log_epoch(epoch: int, logs: Mapping[str, float] | None = None) -> None:
    shown = " ".join(f"{key}={value:.4f}" for key, value in sorted((logs or {}).items()))
    logger.info("epoch=%d %s", epoch + 1, shown)
