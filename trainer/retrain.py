"""One retrain: recent labeled data → challenger → gate against the champion on the same newest holdout → release.

The holdout is the newest slice of the recent data by event time, unseen by the challenger's training, so both
models are judged on the world as it is now. Only a challenger better by the configured margin is registered,
promoted and announced (publishing only versions that passed the gate).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from driftline.bundle import ModelBundle
from driftline.contract import Contract
from driftline.errors import DriftlineError
from driftline.preprocessing import columns_from_frame
from driftline.registry import Registry
from trainer.evaluation import evaluate
from trainer.training import Candidate, TrainConfig, class_indices, fit_candidate

logger = logging.getLogger(__name__)

Outcome = Literal["promoted", "rejected", "failed", "skipped"]
GATE_METRIC = "accuracy"


@dataclass(frozen=True)
class RetrainResult:
    outcome: Outcome
    reason: str
    champion_version: int | None = None
    new_version: int | None = None
    champion_holdout: dict[str, Any] = field(default_factory=dict)
    challenger_holdout: dict[str, Any] = field(default_factory=dict)
    rows: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class RetrainPolicy:
    margin: float = 0.005  # the challenger's holdout accuracy must beat the champion's by this much
    holdout_fraction: float = 0.2
    min_rows: int = 2000
    config: TrainConfig = field(default_factory=TrainConfig)


def split_by_time(frame: pd.DataFrame, holdout_fraction: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(older, newest) parts of a frame already sorted by event time."""
    cut = len(frame) - max(1, round(len(frame) * holdout_fraction))
    return frame.iloc[:cut].reset_index(drop=True), frame.iloc[cut:].reset_index(drop=True)


def holdout_metrics(scores: np.ndarray, frame: pd.DataFrame, contract: Contract) -> dict[str, Any]:
    y = class_indices(frame[contract.label.name], contract)
    keep = y >= 0
    return {**evaluate(y[keep], scores[keep]), "rows": int(keep.sum())}


def challenger_scores(candidate: Candidate, frame: pd.DataFrame) -> np.ndarray:
    columns = columns_from_frame(frame, candidate.contract)
    return np.asarray(candidate.scorer(candidate.preprocessor.transform(columns)))


def gate(champion: dict[str, Any], challenger: dict[str, Any], margin: float) -> tuple[bool, str]:
    """Promote only when the challenger is better on the same holdout by at least ``margin``."""
    old, new = float(champion[GATE_METRIC]), float(challenger[GATE_METRIC])
    verdict = new >= old + margin
    relation = "beats" if verdict else "does not beat"
    return verdict, f"challenger {GATE_METRIC} {new:.4f} {relation} champion {old:.4f} + margin {margin:.4f}"


def retrain(
    registry: Registry,
    load_recent: Callable[[Contract], pd.DataFrame],
    policy: RetrainPolicy,
    *,
    release: Callable[[Candidate, str], int],
) -> RetrainResult:
    """Run one retrain; never raises for an expected failure (it is reported as the outcome)."""
    started = time.perf_counter()

    def done(outcome: Outcome, reason: str, **extra: Any) -> RetrainResult:
        result = RetrainResult(outcome, reason, seconds=time.perf_counter() - started, **extra)
        logger.info("retrain %s: %s", outcome, reason)
        return result

    try:
        champion = ModelBundle.load_production(registry)
    except DriftlineError as exc:
        return done("failed", f"no servable champion: {exc}")
    frame = load_recent(champion.contract)
    rows = len(frame)
    if rows < policy.min_rows:
        return done("skipped", f"{rows} recent labeled records, fewer than the {policy.min_rows} needed",
                    champion_version=champion.version, rows=rows)  # fmt: skip
    train, holdout = split_by_time(frame, policy.holdout_fraction)
    try:
        candidate = fit_candidate(train, champion.contract, policy.config)
        champion_eval = holdout_metrics(champion.predict(columns_from_frame(holdout, champion.contract)).scores,
                                        holdout, champion.contract)  # fmt: skip
        challenger_eval = holdout_metrics(challenger_scores(candidate, holdout), holdout, champion.contract)
    except (DriftlineError, ValueError) as exc:
        return done("failed", f"training or evaluation failed: {exc}", champion_version=champion.version, rows=rows)
    promote, why = gate(champion_eval, challenger_eval, policy.margin)
    extra: dict[str, Any] = {"champion_version": champion.version, "champion_holdout": champion_eval,
                             "challenger_holdout": challenger_eval, "rows": rows}  # fmt: skip
    if not promote:
        return done("rejected", why, **extra)
    try:
        version = release(candidate, why)
    except DriftlineError as exc:
        return done("failed", f"release failed: {exc}", **extra)
    return done("promoted", f"version {version}: {why}", new_version=version, **extra)
