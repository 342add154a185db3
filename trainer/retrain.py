"""One retrain: recent labeled data → challenger → gate against the champion on the same newest holdout → release.

The holdout is the newest slice of the recent data by event time, unseen by the challenger's training, so both
models are judged on the world as it is now. The challenger comes from a bounded search (:mod:`trainer.search`).

The gate, with error bars: on the holdout rows, the paired bootstrap interval of the challenger's accuracy minus
the champion's must lie wholly above the margin (its lower bound > margin), and the interval of its accuracy minus
the majority-class baseline's (always answering the holdout's most frequent class) wholly above 0. Only such a
challenger is registered. It becomes ``staging`` (workers score it in the shadow of production until the trainer
promotes it on live labels, trainer/staging.py), unless the champion is clearly broken: the lower bound of the gain's
interval is at least ``promote_now_gain`` (the champion loses that much accuracy, beyond chance, on the newest labeled
data), when it is promoted and announced at once, so that the loop heals within seconds (docs/architecture.md).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from driftline.bundle import ModelBundle
from driftline.contract import Contract
from driftline.errors import DriftlineError
from driftline.modelio import load_keras
from driftline.preprocessing import columns_from_frame
from driftline.registry import MODEL_FILE, Registry
from driftline.registry.lineage import Lineage, Trigger
from trainer.evaluation import RESAMPLES, accuracy_difference, evaluate, majority_baseline, predicted
from trainer.release import search_lineage
from trainer.search import SearchConfig, search
from trainer.training import Candidate, TrainConfig, class_indices

logger = logging.getLogger(__name__)

Outcome = Literal["promoted", "staged", "rejected", "failed", "skipped"]
GATE_METRIC = "accuracy"


@dataclass(frozen=True)
class RetrainResult:
    outcome: Outcome
    reason: str
    champion_version: int | None = None
    new_version: int | None = None
    champion_holdout: dict[str, Any] = field(default_factory=dict)
    challenger_holdout: dict[str, Any] = field(default_factory=dict)
    comparison: dict[str, Any] = field(default_factory=dict)  # the gate's paired differences (see gate)
    rows: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class RetrainPolicy:
    margin: float = 0.005  # the lower bound of the challenger's holdout accuracy gain must exceed this
    promote_now_gain: float = 0.05  # a lower bound at least this: the champion is clearly broken, skip staging
    holdout_fraction: float = 0.2
    min_rows: int = 2000
    config: TrainConfig = field(default_factory=TrainConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    resamples: int = RESAMPLES  # bootstrap resamples of every interval (seeded with config.seed)


def split_by_time(frame: pd.DataFrame, holdout_fraction: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(older, newest) parts of a frame already sorted by event time."""
    cut = len(frame) - max(1, round(len(frame) * holdout_fraction))
    return frame.iloc[:cut].reset_index(drop=True), frame.iloc[cut:].reset_index(drop=True)


def challenger_scores(candidate: Candidate, frame: pd.DataFrame) -> np.ndarray:
    columns = columns_from_frame(frame, candidate.contract)
    return np.asarray(candidate.scorer(candidate.preprocessor.transform(columns)))


def gate(
    y: np.ndarray, champion: np.ndarray, challenger: np.ndarray, margin: float, *, resamples: int = RESAMPLES,
    seed: int = 0,
) -> tuple[bool, str, dict[str, Any]]:
    """Promote only a challenger whose holdout accuracy gain over the champion is above ``margin`` beyond chance
    and whose accuracy is above the majority-class baseline's beyond chance (both: lower bound of the 95 %
    paired-bootstrap interval). Returns the verdict, a sentence saying why, and both differences."""
    k = 2 if np.ndim(challenger) == 1 else np.shape(challenger)[1]
    new = predicted(challenger)
    majority, baseline = majority_baseline(y, k)
    kw: dict[str, Any] = {"resamples": resamples, "seed": seed}
    gain = accuracy_difference(y, new, predicted(champion), **kw)
    lift = accuracy_difference(y, new, np.full(len(y), majority), **kw)
    beats_champion, beats_baseline = gain["ci"][0] > margin, lift["ci"][0] > 0.0
    comparison = {"vs_champion": gain, "vs_baseline": lift, "baseline_accuracy": baseline, "margin": margin}
    (lo, hi), (blo, bhi) = gain["ci"], lift["ci"]
    above = {True: "above", False: "not above"}
    why = (
        f"challenger {GATE_METRIC} {gain['difference']:+.4f} vs champion (95% CI {lo:+.4f}..{hi:+.4f}), "
        f"{above[beats_champion]} margin {margin:.4f}; {lift['difference']:+.4f} vs the majority baseline "
        f"{baseline:.4f} (95% CI {blo:+.4f}..{bhi:+.4f}), {above[beats_baseline]} 0"
    )
    return beats_champion and beats_baseline, why, comparison


def retrain(
    registry: Registry,
    load_recent: Callable[[Contract], tuple[pd.DataFrame, Mapping[str, Any]]],
    policy: RetrainPolicy,
    *,
    release: Callable[[Candidate, str, bool, Lineage], int],
    trigger: Trigger,
) -> RetrainResult:
    """Run one retrain; never raises for an expected failure (it is reported as the outcome).

    ``load_recent(contract)`` returns the recent labeled records and the window they were read from (topics,
    partitions, offsets, event times). ``release(candidate, why, promote, lineage)`` registers the winner and makes
    it production (``promote``) or staging; its lineage names the champion as parent, ``trigger``, that window and
    the search."""
    started = time.perf_counter()

    def done(outcome: Outcome, reason: str, **extra: Any) -> RetrainResult:
        result = RetrainResult(outcome, reason, seconds=time.perf_counter() - started, **extra)
        logger.info("retrain %s: %s", outcome, reason)
        return result

    try:
        champion = ModelBundle.load_production(registry)
    except DriftlineError as exc:
        return done("failed", f"no servable champion: {exc}")
    frame, window = load_recent(champion.contract)
    rows = len(frame)
    if rows < policy.min_rows:
        return done("skipped", f"{rows} recent labeled records, fewer than the {policy.min_rows} needed",
                    champion_version=champion.version, rows=rows)  # fmt: skip
    train, holdout = split_by_time(frame, policy.holdout_fraction)
    contract, seed = champion.contract, policy.config.seed
    try:
        start = None
        if policy.search.warm_start:  # the champion's Keras model, the source of truth its flatbuffer came from
            start = (champion.preprocessor, load_keras(registry.path(champion.version) / MODEL_FILE))
        candidate = search(train, contract, policy.config, policy.search, champion=start)
        y = class_indices(holdout[contract.label.name], contract)
        keep = y >= 0
        old = champion.predict(columns_from_frame(holdout, contract)).scores[keep]
        new = challenger_scores(candidate, holdout)[keep]
        champion_eval = evaluate(y[keep], old, resamples=policy.resamples, seed=seed)
        challenger_eval = evaluate(y[keep], new, resamples=policy.resamples, seed=seed)
        promote, why, comparison = gate(y[keep], old, new, policy.margin, resamples=policy.resamples, seed=seed)
    except (DriftlineError, ValueError) as exc:
        return done("failed", f"training or evaluation failed: {exc}", champion_version=champion.version, rows=rows)
    extra: dict[str, Any] = {"champion_version": champion.version, "champion_holdout": champion_eval,
                             "challenger_holdout": challenger_eval, "comparison": comparison, "rows": rows}  # fmt: skip
    if not promote:
        return done("rejected", why, **extra)
    now = promote_now(comparison, policy.promote_now_gain)
    try:
        lineage = Lineage(parent=champion.version, trigger=trigger, window=window, search=search_lineage(candidate))
        version = release(candidate, why, now, lineage)
    except DriftlineError as exc:
        return done("failed", f"release failed: {exc}", **extra)
    if now:
        return done("promoted", f"version {version}: {why}; the champion is clearly broken (gain's lower bound at "
                    f"least {policy.promote_now_gain:.4f}): promoted without a shadow trial", new_version=version,
                    **extra)  # fmt: skip
    return done("staged", f"version {version} is staging, promoted once it beats production on live labels: {why}",
                new_version=version, **extra)  # fmt: skip


def promote_now(comparison: dict[str, Any], promote_now_gain: float) -> bool:
    """Whether a challenger that passed the gate skips staging: the lower bound of its holdout accuracy gain over
    the champion (the gate's paired-bootstrap interval) is at least ``promote_now_gain``."""
    return float(comparison["vs_champion"]["ci"][0]) >= promote_now_gain
