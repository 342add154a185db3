"""Staging: the alias a retrain's winner waits in, the rule that skips it, and the live trial that promotes it."""

from __future__ import annotations

import math
from math import comb
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import binom

from driftline.registry import PRODUCTION, STAGING, Registry
from tests.unit.test_registry import artifacts
from trainer.retrain import promote_now
from trainer.staging import ShadowPairs, judge, log_evidence


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    registry = Registry(tmp_path / "registry", "credit")
    for tag in "abc":
        registry.register(artifacts(tag))
    return registry


def test_staging_is_an_alias_beside_production(registry: Registry) -> None:
    registry.promote(1)
    staged = registry.stage(2)
    assert (staged.name, staged.version) == (STAGING, 2)
    assert registry.alias(PRODUCTION).version == 1  # type: ignore[union-attr]
    assert [i.is_production for i in registry.versions()] == [True, False, False]


def test_promoting_the_staging_version_clears_staging(registry: Registry) -> None:
    registry.promote(1)
    registry.stage(2)
    info = registry.promote(2)
    assert (info.version, info.previous) == (2, 1)
    assert registry.alias(STAGING) is None
    assert not (registry.model_dir / "aliases" / "staging.json").exists()


def test_promoting_another_version_keeps_staging(registry: Registry) -> None:
    registry.promote(1)
    registry.stage(2)
    registry.promote(3)
    assert registry.alias(STAGING).version == 2  # type: ignore[union-attr]


def test_clear_alias(registry: Registry) -> None:
    registry.stage(3)
    assert registry.clear_alias(STAGING) is True
    assert registry.alias(STAGING) is None
    assert registry.clear_alias(STAGING) is False


@pytest.mark.parametrize(("lower", "now"), [(0.049, False), (0.05, True), (0.3, True), (-0.1, False)])
def test_a_clearly_broken_champion_skips_staging(lower: float, now: bool) -> None:
    comparison = {"vs_champion": {"difference": lower + 0.02, "ci": (lower, lower + 0.04)}}
    assert promote_now(comparison, 0.05) is now


def test_the_evidence_is_the_mixture_likelihood_ratio() -> None:
    for k, n in ((0, 0), (1, 1), (3, 5), (7, 7), (10, 10), (100, 140), (30, 55)):
        # sum_{i<=k} C(n+1, i) / ((n+1) C(n, k)): the integral over p in (1/2, 1) of 2 p^k (1-p)^(n-k) / 2^-n
        exact = sum(comb(n + 1, i) for i in range(k + 1)) / ((n + 1) * comb(n, k))
        assert math.exp(log_evidence(k, n)) == pytest.approx(exact, rel=1e-9)
    p = np.linspace(0.5, 1.0, 200_001)  # the same integral numerically, for one case
    density = 2 * p**60 * (1 - p) ** 40 * 2.0**100
    trapezoids = float(np.sum((density[1:] + density[:-1]) / 2 * np.diff(p)))
    assert math.exp(log_evidence(60, 100)) == pytest.approx(trapezoids, rel=1e-6)
    assert log_evidence(0, 0) == 0.0  # no pairs, no evidence
    assert log_evidence(4000, 5000) > 900  # exp of it would overflow; its log does not
    assert log_evidence(0, 5000) < -3000 or log_evidence(0, 5000) == -math.inf
    with pytest.raises(ValueError, match="0 <= k <= n"):
        log_evidence(6, 5)


def test_judging_after_every_label_keeps_false_promotions_under_alpha() -> None:
    """A staging version exactly as good as production, judged after every 10th of 2,000 discordant pairs:
    McNemar's fixed p < 0.05 at some look promotes it far more often than 5 %; the sequential test does not."""
    rng = np.random.default_rng(20261206)
    trials, looks, alpha = 300, 2000, 0.05
    wins = rng.random((trials, looks)) < 0.5  # staging right alone on a discordant pair: a fair coin
    k = np.cumsum(wins, axis=1)
    n = np.arange(1, looks + 1)
    sequential = fixed = 0
    for row in k:
        evidence = [log_evidence(int(row[i]), int(n[i])) for i in range(9, looks, 10)]  # every 10th pair from 10
        sequential += max(evidence) >= -math.log(alpha)
        # McNemar's exact one-sided p-value at the same looks: P(Binomial(n, 1/2) >= k) < alpha
        fixed += bool(np.any(binom.sf(row[9::10] - 1, n[9::10], 0.5) < alpha))
    assert sequential / trials <= alpha, sequential
    assert fixed / trials > 3 * alpha, fixed  # what judging a fixed-sample test repeatedly did


@pytest.mark.parametrize(
    ("pairs", "action"),
    [
        (ShadowPairs(both_right=320, both_wrong=50, staging_only=100, production_only=40), "promote"),
        (ShadowPairs(both_right=320, both_wrong=50, staging_only=40, production_only=100), "discard"),
        (ShadowPairs(both_right=400, both_wrong=50, staging_only=30, production_only=25), "wait"),  # no verdict yet
        (ShadowPairs(both_right=100, both_wrong=10, staging_only=60, production_only=5), "wait"),  # too few records
        (ShadowPairs(both_right=18_000, both_wrong=1000, staging_only=510, production_only=490), "discard"),  # no win
    ],
)
def test_the_staging_trial(pairs: ShadowPairs, action: str) -> None:
    verdict = judge(pairs, min_records=500, max_records=20_000, alpha=0.05)
    assert verdict.action == action, verdict.why
    assert "sequential test" in verdict.why
