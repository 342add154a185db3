"""Fit a candidate model: seeded split, preprocessing fitted on the training split, a Keras MLP or CNN, early stopping.

The recipe (DESIGN 3-4): a seeded split, stratified when classes allow; the Preprocessor fitted on the training rows,
numeric features also as piecewise-linear quantile bins; an MLP (ReLU, dropout, L2, L1 on the inputs), Adam, early
stopping on validation loss, best weights restored; no class weights (the gate scores accuracy); test metrics with
intervals through the serving Scorer; the drift profile. An image contract gets a CNN over the flat pixel columns
and its own defaults (:data:`IMAGE_RECIPE`, applied by :func:`recipe` to whatever the caller left unset). Three
stages (``prepare``, ``fit_model``, ``finish``) let :mod:`trainer.search` fit several configurations on one split and
finish only the one it keeps.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from driftline.contract import Contract
from driftline.errors import DataError
from driftline.modelio import require_keras
from driftline.preprocessing import (
    ImageParams,
    NumericEncoding,
    PreprocessingOptions,
    Preprocessor,
    columns_from_frame,
)
from driftline.profile import Profile
from driftline.progress import Advance, progress_bar
from trainer.evaluation import evaluate

__all__ = ["IMAGE_RECIPE", "Candidate", "Fitted", "Prepared", "Split", "TrainConfig", "build_model", "class_indices",
           "class_weights", "finish", "fit_candidate", "fit_model", "prepare", "recipe", "split_indices"]  # fmt: skip

logger = logging.getLogger(__name__)

STEPS_PER_EXECUTION = 16


class TrainConfig(BaseModel):
    """How to train. ``class_weight="auto"`` uses balanced weights when the smallest class's share of the training
    rows is below ``imbalance_ratio / k`` (k classes); the default, ``none``, suits a gate that scores accuracy."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    hidden_layers: tuple[int, ...] = (128, 64)
    conv_filters: tuple[int, ...] = Field(
        (32, 64), description="image contracts: filters of each Conv2D(3x3, ReLU) + MaxPooling2D(2) block"
    )
    dropout: float = Field(0.2, ge=0.0, lt=1.0)
    l2: float = Field(1e-4, ge=0.0, description="L2 penalty on the hidden layers' kernels")
    l1_input: float = Field(1e-3, ge=0.0, description="L1 penalty on the first layer's kernel: drops unused inputs")
    learning_rate: float = Field(3e-3, gt=0.0)
    batch_size: int = Field(256, ge=1)
    max_epochs: int = Field(200, ge=1)
    patience: int = Field(10, ge=0, description="epochs without a lower validation loss before stopping")
    validation_fraction: float = Field(0.1, gt=0.0, lt=1.0)
    test_fraction: float = Field(0.1, gt=0.0, lt=1.0)
    seed: int = Field(7, ge=0)
    class_weight: Literal["auto", "balanced", "none"] = "none"
    imbalance_ratio: float = Field(0.8, gt=0.0, le=1.0)
    preprocessing: PreprocessingOptions = PreprocessingOptions(numeric_encoding=NumericEncoding(bins=64))
    warm_start: bool = Field(False, description="start from the champion's weights, keeping its preprocessor")

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        if any(units < 1 for units in self.hidden_layers):
            raise ValueError(f"hidden layer sizes must be >= 1, found {list(self.hidden_layers)}")
        if not self.conv_filters or any(filters < 1 for filters in self.conv_filters):
            raise ValueError(f"conv filters must be one or more sizes >= 1, found {list(self.conv_filters)}")
        if self.validation_fraction + self.test_fraction >= 0.9:
            fractions = f"{self.validation_fraction} + {self.test_fraction}"
            raise ValueError(f"validation + test fractions must leave at least 10% for training, found {fractions}")
        return self


#: An image contract's defaults (the lifecycle's CNN recipe): conv blocks 32 and 64, one Dense 128, dropout 0.2,
#: Adam 1e-3, no weight penalties (no L1 on pixels: every pixel is an input worth keeping), no numeric encoding.
#: Batch 32 and patience 5: on the digits, batch 64 or patience 3 stopped a few epochs early and lost about two
#: points of test accuracy (docs/architecture.md).
IMAGE_RECIPE: dict[str, Any] = {
    "conv_filters": (32, 64),
    "hidden_layers": (128,),
    "dropout": 0.2,
    "l1_input": 0.0,
    "l2": 0.0,
    "learning_rate": 1e-3,
    "batch_size": 32,
    "patience": 5,
    "preprocessing": PreprocessingOptions(),
}


def recipe(contract: Contract, config: TrainConfig | None = None) -> TrainConfig:
    """The configuration to train ``contract`` with: ``config`` as given for tabular contracts; for an image
    contract, :data:`IMAGE_RECIPE` in every field ``config`` did not set explicitly (explicit settings win)."""
    config = config or TrainConfig()
    if contract.image is None:
        return config
    unset = {key: value for key, value in IMAGE_RECIPE.items() if key not in config.model_fields_set}
    return TrainConfig.model_validate({**config.model_dump(), **unset})


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
class Prepared:
    """Labeled rows split once, as feature columns and class indices per part; shared by every fit."""

    contract: Contract
    split: Split
    columns: dict[str, dict[str, np.ndarray]]  # train, validation, test
    targets: dict[str, np.ndarray]
    rows: dict[str, int]  # input, unlabeled, train, validation, test
    started_at: datetime
    seconds: float


@dataclass(frozen=True)
class Fitted:
    """One configuration fitted on a Prepared split (not yet evaluated on its test rows)."""

    config: TrainConfig
    preprocessor: Preprocessor
    model: Any  # keras.Model
    history: dict[str, list[float]]  # Keras History.history: loss, accuracy, val_loss, val_accuracy
    best_epoch: int  # 1-based; its weights are the model's
    stopped_by: str  # patience | max_epochs | callback (trainer.search names its deadline)
    class_weight: dict[int, float] | None
    timings: dict[str, float]  # seconds per stage; a Candidate's also has "total"

    @property
    def epochs_run(self) -> int:
        return len(self.history["loss"])


@dataclass(frozen=True)
class Candidate(Fitted):
    """A trained, evaluated model with everything a release needs; not yet registered."""

    contract: Contract
    scorer: Any  # driftline.scoring.Scorer
    profile: Profile
    metrics: dict[str, Any]  # test-split metrics with intervals (trainer.evaluation.evaluate)
    split: Split
    rows: dict[str, int]  # input, unlabeled, train, validation, test
    started_at: datetime
    finished_at: datetime
    search: dict[str, Any] | None = None  # trainer.search's record of every configuration tried

    @property
    def seconds(self) -> float:
        return self.timings["total"]


def class_indices(labels: pd.Series | np.ndarray, contract: Contract) -> np.ndarray:
    """Labels → int64 indices into ``contract.label.classes`` (-1 where missing), by value or by text (``"1"`` in
    a CSV matches class ``1``); any other label is a DataError: dropping a class would train a different task."""
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
        raise DataError(f"labels {sorted(map(str, unknown))[:10]} are not classes of contract {contract.name!r}; "
                        f"expected one of {list(classes)}")  # fmt: skip
    table[-1] = -1
    return table[codes]


def split_indices(
    y: np.ndarray, *, validation_fraction: float = 0.15, test_fraction: float = 0.15, seed: int = 7
) -> Split:
    """A seeded train/validation/test split of ``len(y)`` rows, the same for the same inputs. Stratified when every
    class has rows enough for one in the smaller held-out part; else one seeded permutation of all rows."""
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
    split = Split(**{name: np.sort(np.concatenate(p)).astype(np.int64) for name, p in parts.items()},
                  stratified=stratified)  # fmt: skip
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


def build_model(
    width: int, n_classes: int, config: TrainConfig, *, start: Any = None, image: tuple[int, int, int] | None = None
) -> Any:
    """A compiled Keras model over ``width`` float32 columns; built-in layers only, so it loads under
    ``safe_mode``. Tabular: an MLP, ``Input(width)`` → (Dense+ReLU, L2 and on the first L1 [→ Dropout]) per hidden
    layer. ``image`` (height, width, channels), whose product is ``width``: a CNN, ``Reshape`` of the flat pixels
    (row-major, as the preprocessing flattens them) → (Conv2D 3x3 ReLU → MaxPooling2D 2) per conv filter size →
    Flatten → (Dense+ReLU [→ Dropout]) per hidden layer. Either ends in a sigmoid unit (binary) or a softmax over
    ``n_classes`` units. A ``start`` model (a warm start) is copied instead, architecture and weights."""
    keras = require_keras()
    if start is not None:
        model = keras.models.clone_model(start)
        model.set_weights(start.get_weights())
    else:
        x = inputs = keras.Input(shape=(width,), name="features")
        first_l1 = config.l1_input
        if image is not None:
            if int(np.prod(image)) != width:
                raise DataError(f"an image of shape {image} has {int(np.prod(image))} values, the input {width}")
            x = keras.layers.Reshape(image, name="image")(x)
            for i, filters in enumerate(config.conv_filters, start=1):
                x = keras.layers.Conv2D(filters, 3, activation="relu", name=f"conv_{i}")(x)
                x = keras.layers.MaxPooling2D(2, name=f"pool_{i}")(x)
            x = keras.layers.Flatten(name="flatten")(x)
            first_l1 = 0.0  # the first Dense sees learned features, not inputs
        for i, units in enumerate(config.hidden_layers, start=1):
            l1 = first_l1 if i == 1 else 0.0
            penalty = keras.regularizers.L1L2(l1=l1, l2=config.l2) if l1 or config.l2 else None
            x = keras.layers.Dense(units, activation="relu", kernel_regularizer=penalty, name=f"hidden_{i}")(x)
            if config.dropout > 0:
                x = keras.layers.Dropout(config.dropout, seed=config.seed + i, name=f"dropout_{i}")(x)
        head = ("probability", 1, "sigmoid") if n_classes == 2 else ("probabilities", n_classes, "softmax")
        outputs = keras.layers.Dense(head[1], activation=head[2], name=head[0])(x)
        model = keras.Model(inputs, outputs, name="driftline_cnn" if image else "driftline_mlp")
    if n_classes == 2:
        loss, metric = "binary_crossentropy", keras.metrics.BinaryAccuracy(name="accuracy")
    else:
        loss, metric = "sparse_categorical_crossentropy", keras.metrics.SparseCategoricalAccuracy(name="accuracy")
    # several steps per call into TensorFlow: the same updates, less Python per step (docs/performance.md)
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), loss=loss, metrics=[metric],
                  steps_per_execution=STEPS_PER_EXECUTION)  # fmt: skip
    return model


def prepare(frame: pd.DataFrame, contract: Contract, config: TrainConfig) -> Prepared:
    """Labels → class indices, unlabeled rows left out (counted), the seeded split, feature columns per part.
    Raises DataError when the frame does not fit the contract or is too small to split."""
    started_at, t0 = datetime.now(UTC), time.perf_counter()
    if contract.label.name not in frame.columns:
        raise DataError(f"the training frame has no label column {contract.label.name!r}")
    labels = class_indices(frame[contract.label.name], contract)
    labeled = np.flatnonzero(labels >= 0)
    if labeled.size < len(frame):
        logger.warning("leaving out %d unlabeled rows of %d", len(frame) - labeled.size, len(frame))
    y = labels[labeled]
    split = split_indices(y, validation_fraction=config.validation_fraction, test_fraction=config.test_fraction,
                          seed=config.seed)  # fmt: skip
    parts = ("train", "validation", "test")
    columns = {name: columns_from_frame(frame.iloc[labeled[getattr(split, name)]], contract) for name in parts}
    rows = {"input": len(frame), "unlabeled": len(frame) - int(labeled.size), **split.sizes()}
    return Prepared(contract, split, columns, {name: y[getattr(split, name)] for name in parts}, rows, started_at,
                    time.perf_counter() - t0)  # fmt: skip


def fit_model(
    prepared: Prepared, config: TrainConfig, *, champion: tuple[Preprocessor, Any] | None = None,
    callbacks: Sequence[Any] = (),
) -> Fitted:
    """Fit one configuration: preprocessing on the training rows (the champion's under ``config.warm_start``),
    then the model until early stopping, ``max_epochs`` or one of the extra Keras ``callbacks`` stops it."""
    keras = require_keras()
    warm = champion if config.warm_start else None
    if config.warm_start and warm is None:
        raise DataError("a warm start needs the champion's preprocessor and model")
    t, k = time.perf_counter(), len(prepared.contract.label.classes)
    preprocessor = warm[0] if warm else Preprocessor.fit(prepared.columns["train"], prepared.contract,
                                                         config.preprocessing)  # fmt: skip
    X, y = {n: preprocessor.transform(prepared.columns[n]) for n in ("train", "validation")}, prepared.targets
    timings = {"preprocess": time.perf_counter() - t}
    t = time.perf_counter()
    keras.utils.set_random_seed(config.seed)
    image = _image_shape(preprocessor)
    model = build_model(preprocessor.width, k, config, start=warm[1] if warm else None, image=image)
    weights = class_weights(y["train"], k, config)
    fit_y = {n: y[n].astype(np.float32)[:, None] if k == 2 else y[n] for n in ("train", "validation")}
    early = keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.patience, restore_best_weights=True)
    with progress_bar("epochs", total=config.max_epochs) as advance:  # early stopping usually ends it sooner
        result = model.fit(X["train"], fit_y["train"], validation_data=(X["validation"], fit_y["validation"]),
                           epochs=config.max_epochs, batch_size=config.batch_size, class_weight=weights, shuffle=True,
                           verbose=0, callbacks=[early, *callbacks, _epoch_progress(keras, advance)])  # fmt: skip
    history = {key: [float(v) for v in values] for key, values in result.history.items()}
    timings["fit"] = time.perf_counter() - t
    ran_out = len(history["loss"]) == config.max_epochs
    stopped_by = "patience" if early.stopped_epoch else "max_epochs" if ran_out else "callback"
    best = int(np.argmin(history["val_loss"])) + 1
    return Fitted(config, preprocessor, model, history, best, stopped_by, weights, timings)


def _image_shape(preprocessor: Preprocessor) -> tuple[int, int, int] | None:
    """The (height, width, channels) the preprocessing resizes images to (the CNN's input), or None if tabular."""
    for params in preprocessor.spec.features:
        if isinstance(params, ImageParams):
            return params.height, params.width, params.channels
    return None


def _epoch_progress(keras: Any, advance: Advance) -> Any:
    """A Keras callback that moves the epochs bar (drawn on a terminal only)."""

    class EpochProgress(keras.callbacks.Callback):  # type: ignore[name-defined,misc]
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            advance(1)

    return EpochProgress()


def finish(prepared: Prepared, fitted: Fitted, *, search: dict[str, Any] | None = None) -> Candidate:
    """The serving Scorer, test metrics with intervals and the drift profile of the model kept."""
    from driftline.scoring import Scorer

    t, preprocessor, seed = time.perf_counter(), fitted.preprocessor, fitted.config.seed
    scorer = Scorer(fitted.model, preprocessor.width)
    test_scores = scorer(preprocessor.transform(prepared.columns["test"]))
    metrics = evaluate(prepared.targets["test"], test_scores, seed=seed, classes=prepared.contract.label.classes,
                       curves=True)  # fmt: skip
    timings = {"split": prepared.seconds, **fitted.timings, "evaluate": time.perf_counter() - t}
    t, train = time.perf_counter(), prepared.columns["train"]
    profile = Profile.fit(train, prepared.contract, scorer(preprocessor.transform(train)), preprocessor=preprocessor,
                          seed=seed)  # fmt: skip
    finished_at = datetime.now(UTC)
    timings.update(profile=time.perf_counter() - t, total=(finished_at - prepared.started_at).total_seconds())
    logger.info("candidate trained epochs=%d best_epoch=%d stopped_by=%s test_accuracy=%.4f seconds=%.1f",
                fitted.epochs_run, fitted.best_epoch, fitted.stopped_by, metrics["accuracy"], timings["total"])
    return Candidate(**{**vars(fitted), "timings": timings}, contract=prepared.contract, scorer=scorer,
                     profile=profile, metrics=metrics, split=prepared.split, rows=prepared.rows,
                     started_at=prepared.started_at, finished_at=finished_at, search=search)  # fmt: skip


def fit_candidate(
    frame: pd.DataFrame, contract: Contract, config: TrainConfig | None = None, *,
    champion: tuple[Preprocessor, Any] | None = None,
) -> Candidate:
    """Train and evaluate one candidate on ``frame`` (as :func:`driftline.sources.to_frame` builds it); unlabeled
    rows are left out. ``champion`` (its preprocessor and Keras model) serves ``config.warm_start``. An image
    contract trains with :func:`recipe`'s image defaults where ``config`` leaves them unset."""
    prepared = prepare(frame, contract, config := recipe(contract, config))
    return finish(prepared, fit_model(prepared, config, champion=champion))
