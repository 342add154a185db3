"""Staging: the alias a retrain's winner waits in, the rule that skips it, and the live trial that promotes it."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftline.registry import PRODUCTION, STAGING, Registry
from tests.unit.test_registry import artifacts
from trainer.retrain import promote_now
from trainer.staging import ShadowPairs, binomial_tail, judge


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


def test_mcnemar_exact_tail_matches_the_binomial() -> None:
    from math import comb

    for k, n in ((0, 0), (3, 5), (9, 10), (10, 10), (60, 100)):
        assert binomial_tail(k, n) == pytest.approx(sum(comb(n, i) for i in range(k, n + 1)) / 2**n if n else 1.0)
    assert binomial_tail(11, 10) == 0.0
    assert binomial_tail(5000, 9000) < 1e-20  # large n without overflow


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
    assert "McNemar" in verdict.why
