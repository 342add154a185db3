"""Promotion from staging: the staging version's shadow trial on live labels, judged by McNemar's exact test.

The workers' label join counts, for every labeled record both versions scored, which of them was right (a Redis hash
per production/staging pair, ``driftline.messages.shadow_pairs_key``): exact, shared by every worker and kept across
their restarts, so the trainer reads the trial in one command, without a scrape interval or counter resets between.

The test is paired (the same records scored by both): of the discordant records, ``staging_only`` (staging right,
production wrong) and ``production_only``, McNemar's exact test asks whether staging's share of them is above one
half (a one-sided binomial test). Staging is promoted once at least ``min_records`` paired records are in and the
p-value is below ``alpha``; it is discarded if production is better at the same level, or if ``max_records`` pass
without a verdict (a version no better than production is not worth a swap).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Literal

from driftline.messages import SHADOW_PAIR_OUTCOMES, shadow_pairs_key
from driftline.redis_clients import sync_client
from driftline.registry import PRODUCTION, STAGING, Registry
from driftline.settings import RedisSettings

logger = logging.getLogger(__name__)

Action = Literal["promote", "discard", "wait"]


@dataclass(frozen=True)
class ShadowPairs:
    """Labeled records scored by both versions, by which was right."""

    both_right: int = 0
    both_wrong: int = 0
    staging_only: int = 0
    production_only: int = 0

    @property
    def total(self) -> int:
        return self.both_right + self.both_wrong + self.staging_only + self.production_only


@dataclass(frozen=True)
class Verdict:
    action: Action
    why: str
    p_better: float = 1.0
    p_worse: float = 1.0


def binomial_tail(k: int, n: int) -> float:
    """P(X >= k) for X ~ Binomial(n, 1/2): McNemar's exact one-sided p-value with ``k`` of ``n`` discordant pairs."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    log_half_n = -n * math.log(2.0)
    terms = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + log_half_n for i in range(k, n + 1)]
    top = max(terms)
    return min(1.0, math.exp(top) * math.fsum(math.exp(t - top) for t in terms))


def judge(pairs: ShadowPairs, *, min_records: int, max_records: int, alpha: float) -> Verdict:
    """Promote, discard or wait, from the paired outcomes so far."""
    n = pairs.total
    discordant = pairs.staging_only + pairs.production_only
    p_better = binomial_tail(pairs.staging_only, discordant)
    p_worse = binomial_tail(pairs.production_only, discordant)
    score = (f"{n} paired labeled records, staging right alone on {pairs.staging_only}, production on "
             f"{pairs.production_only} (McNemar exact one-sided p={p_better:.3g} better, {p_worse:.3g} worse, "
             f"alpha {alpha})")  # fmt: skip
    if n < min_records:
        return Verdict("wait", f"{score}: fewer than {min_records}", p_better, p_worse)
    if p_better < alpha:
        return Verdict("promote", f"{score}: staging is better", p_better, p_worse)
    if p_worse < alpha:
        return Verdict("discard", f"{score}: staging is worse", p_better, p_worse)
    if n >= max_records:
        return Verdict("discard", f"{score}: no better within {max_records}", p_better, p_worse)
    return Verdict("wait", score, p_better, p_worse)


def read_pairs(settings: RedisSettings, model: str, production: int, staging: int) -> ShadowPairs:
    """The paired outcomes the workers counted for this production/staging pair (zeros before the first)."""
    client = sync_client(settings)
    try:
        raw = client.hgetall(shadow_pairs_key(settings.key_prefix, model, production, staging))
    finally:
        client.close()
    found = {(k.decode() if isinstance(k, bytes) else str(k)): int(v) for k, v in dict(raw).items()}  # type: ignore[arg-type]
    return ShadowPairs(**{name: found.get(name, 0) for name in SHADOW_PAIR_OUTCOMES})


def check_staging(registry: Registry, redis: RedisSettings, *, min_records: int, max_records: int,
                  alpha: float) -> Verdict | None:  # fmt: skip
    """Judge the staging version's trial and act on it: promote it (the caller announces) or clear the alias.
    None when there is no trial (no staging or no production version)."""
    staging, production = registry.alias(STAGING), registry.alias(PRODUCTION)
    if staging is None or production is None or staging.version == production.version:
        return None
    pairs = read_pairs(redis, registry.model, production.version, staging.version)
    verdict = judge(pairs, min_records=min_records, max_records=max_records, alpha=alpha)
    if verdict.action == "promote":
        registry.promote(staging.version)  # clears staging
        logger.warning("promoted staging version=%d over production version=%d: %s", staging.version,
                       production.version, verdict.why)  # fmt: skip
    elif verdict.action == "discard":
        registry.clear_alias(STAGING)
        logger.warning("discarded staging version=%d, production version=%d stays: %s", staging.version,
                       production.version, verdict.why)  # fmt: skip
    return verdict
