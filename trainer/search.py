"""A bounded hyperparameter search: a few configurations fitted on one split, the best on validation kept.

Trials are overrides of a base :class:`~trainer.training.TrainConfig`, tried in order (the strongest known first,
so a short budget still gets it). A trial starts only while the budget is likely to cover it (the mean length of
the trials so far) and is stopped at the budget's end, keeping its best epoch. Each trial is scored on the
validation rows by accuracy, what the gate scores (ties go to the lower log loss); the test rows are looked at
only once, for the model kept. Every trial, run or not, is recorded in ``training.json`` with its validation
metrics and seconds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from driftline.contract import Contract
from driftline.errors import DataError
from driftline.modelio import require_keras
from driftline.preprocessing import Preprocessor
from driftline.progress import tracked
from trainer.evaluation import accuracy, log_loss
from trainer.training import Candidate, Fitted, Prepared, TrainConfig, finish, fit_model, prepare, recipe

__all__ = ["DEFAULT_TRIALS", "IMAGE_TRIALS", "WARM_START", "SearchConfig", "search", "trial_config"]

logger = logging.getLogger(__name__)

#: The default trials, the base recipe first: on the demo's drifted world it was the best measured, and the
#: others were within noise of it (less dropout: faster; a slower learning rate or finer bins: slower).
DEFAULT_TRIALS: tuple[dict[str, Any], ...] = (
    {},
    {"dropout": 0.1},
    {"learning_rate": 1e-3, "batch_size": 128},
    {"preprocessing": {"numeric_encoding": {"bins": 128}}},
)
#: An image contract's trials: the image recipe alone (a CNN epoch costs far more than an MLP's, so one trial, stopped
#: by early stopping or the budget, fits in seconds on two cores); a warm start still adds its trial.
IMAGE_TRIALS: tuple[dict[str, Any], ...] = ({},)
#: The trial a warm start adds (second, after the base recipe): the champion's preprocessor and weights.
WARM_START: dict[str, Any] = {"warm_start": True}
_SHARED = frozenset({"seed", "validation_fraction", "test_fraction"})  # one split for every trial


class SearchConfig(BaseModel):
    """How long to search and what to try; ``warm_start`` adds the warm-start trial when a champion is given."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    budget_seconds: float = Field(40.0, gt=0, description="wall time for all trials; the last is cut at its end")
    trials: tuple[dict[str, Any], ...] = Field(DEFAULT_TRIALS, min_length=1)
    warm_start: bool = False

    @field_validator("trials")
    @classmethod
    def _one_split(cls, trials: tuple[dict[str, Any], ...]) -> tuple[dict[str, Any], ...]:
        for overrides in trials:
            if _SHARED & set(overrides):
                raise ValueError(f"a trial cannot change {sorted(_SHARED & set(overrides))}: trials share one split")
        return trials


def trial_config(base: TrainConfig, overrides: Mapping[str, Any]) -> TrainConfig:
    """``base`` with ``overrides`` merged in (nested options merge key by key), validated."""

    def merged(into: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(into)
        for key, value in extra.items():
            nested = isinstance(value, Mapping) and isinstance(out.get(key), dict)
            out[key] = merged(out[key], value) if nested else value
        return out

    return TrainConfig.model_validate(merged(base.model_dump(), overrides))


def search(
    frame: pd.DataFrame, contract: Contract, base: TrainConfig, config: SearchConfig | None = None, *,
    champion: tuple[Preprocessor, Any] | None = None, clock: Callable[[], float] = time.perf_counter,
) -> Candidate:
    """Fit the trials on one seeded split of ``frame`` within the budget; finish and return the best one. An image
    contract trains with the image recipe (:func:`~trainer.training.recipe`) and, unless trials are given,
    :data:`IMAGE_TRIALS`."""
    config = config or SearchConfig()
    started = clock()
    deadline = started + config.budget_seconds
    base = recipe(contract, base)
    image_default = contract.image is not None and "trials" not in config.model_fields_set
    trials = list(IMAGE_TRIALS if image_default else config.trials)
    if config.warm_start and champion is not None:
        trials.insert(1, WARM_START)
    prepared = prepare(frame, contract, base)
    records: list[dict[str, Any]] = []
    best: tuple[tuple[float, float], Fitted, int] | None = None
    for i, overrides in enumerate(tracked(trials, "search trials", len(trials))):
        spent = [r["seconds"] for r in records if "seconds" in r]
        if best is not None and clock() + float(np.mean(spent)) > deadline:
            records.append({"trial": i, "overrides": overrides, "skipped": "budget spent"})
            continue
        t = clock()
        try:
            config_i = trial_config(base, overrides)
            fitted = fit_model(prepared, config_i, champion=champion, callbacks=[_deadline(clock, deadline)])
        except (DataError, ValueError) as exc:  # a trial that cannot be built is reported, not fatal
            logger.warning("search trial=%d failed: %s", i, exc)
            records.append({"trial": i, "overrides": overrides, "skipped": f"failed: {exc}"})
            continue
        if fitted.stopped_by == "callback":
            fitted = replace(fitted, stopped_by="deadline")
        validation, seconds = _validation(prepared, fitted), clock() - t
        records.append({"trial": i, "overrides": overrides, "validation": validation, "seconds": seconds,
                        "epochs_run": fitted.epochs_run, "best_epoch": fitted.best_epoch,
                        "stopped_by": fitted.stopped_by})  # fmt: skip
        logger.info("search trial=%d validation_accuracy=%.4f validation_log_loss=%.4f epochs=%d seconds=%.1f", i,
                    validation["accuracy"], validation["log_loss"], fitted.epochs_run, seconds)  # fmt: skip
        key = (validation["accuracy"], -validation["log_loss"])
        if best is None or key > best[0]:
            best = (key, fitted, i)
    if best is None:
        raise DataError(f"no search trial could be fitted: {[r.get('skipped') for r in records]}")
    summary = {"budget_seconds": config.budget_seconds, "seconds": clock() - started, "selected": best[2],
               "selected_by": "validation accuracy, then validation log loss", "trials": records}  # fmt: skip
    return finish(prepared, best[1], search=summary)


def _deadline(clock: Callable[[], float], deadline: float) -> Any:
    """A Keras callback that stops training after the epoch that ends at or past ``deadline``."""
    keras = require_keras()

    class Deadline(keras.callbacks.Callback):  # type: ignore[name-defined]
        def on_epoch_end(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
            if clock() >= deadline:
                self.model.stop_training = True

    return Deadline()


def _validation(prepared: Prepared, fitted: Fitted) -> dict[str, float]:
    X = fitted.preprocessor.transform(prepared.columns["validation"])
    probs = np.asarray(fitted.model(X, training=False), dtype=np.float64)
    y = prepared.targets["validation"]
    return {"accuracy": accuracy(y, probs), "log_loss": log_loss(y, probs)}
