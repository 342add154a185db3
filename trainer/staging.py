"""Promotion from staging: the staging version's shadow trial on live labels, judged by an always-valid
sequential test, so that judging it after every label does not raise its error rate.

The workers' label join counts, for every labeled record both versions scored, which of them was right (a Redis hash
per production/staging pair, ``driftline.messages.shadow_pairs_key``): exact, shared by every worker and kept across
their restarts, so the trainer reads the trial in one command, without a scrape interval or counter resets between.

The test is paired (the same records scored by both), on the discordant records: ``staging_only`` (staging right,
production wrong) and ``production_only``. McNemar's exact test asks whether staging's share of them is above one
half, but its p-value holds only for one look at a number of records fixed in advance; the trainer looks every few
seconds, and a version no better than production would cross a fixed p < 0.05 at some look far more often than 5 %
of the time. The evidence read instead (``log_evidence``) is a mixture likelihood ratio (a mixture sequential
probability ratio test), which by Ville's inequality ever reaches ``1 / alpha`` under "no better" with probability at
most ``alpha``, however often it is read. Staging is promoted once at least ``min_records`` paired records are in and
the evidence that it is better reaches ``1 / alpha``; it is discarded once the evidence that it is worse does, or
when ``max_records`` pass without a verdict (a version not shown better is not worth a swap).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Literal

from scipy.special import betainc, betaln

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
    evidence_better: float = 1.0  # likelihood ratios: 1 is none either way; 1 / alpha decides
    evidence_worse: float = 1.0


def log_evidence(k: int, n: int) -> float:
    """The log of the evidence that a version right alone on ``k`` of ``n`` discordant pairs is the better one.

    The likelihood ratio of "its share of the discordant pairs is some p above one half", averaged over p uniform on
    (1/2, 1), against "one half": 2^(n+1) B(k+1, n-k+1) P(Binomial(n+1, 1/2) <= k). It starts at 1 (n = 0) and, for
    any share at or below one half, is a nonnegative supermartingale in n, so it ever reaches 1/alpha with
    probability at most alpha (Ville's inequality). -inf where it underflows (no evidence at all)."""
    if not 0 <= k <= n:
        raise ValueError(f"expected 0 <= k <= n, found k={k}, n={n}")
    tail = float(betainc(n - k + 1, k + 1, 0.5))  # P(Binomial(n+1, 1/2) >= n-k+1) = P(... <= k)
    if tail <= 0.0:
        return -math.inf
    return (n + 1) * math.log(2.0) + float(betaln(k + 1, n - k + 1)) + math.log(tail)


def judge(pairs: ShadowPairs, *, min_records: int, max_records: int, alpha: float) -> Verdict:
    """Promote, discard or wait, from the paired outcomes so far (as often as they are read)."""
    n = pairs.total
    discordant = pairs.staging_only + pairs.production_only
    better = log_evidence(pairs.staging_only, discordant)
    worse = log_evidence(pairs.production_only, discordant)
    enough = -math.log(alpha)
    e_better, e_worse = math.exp(min(better, 700.0)), math.exp(min(worse, 700.0))
    score = (f"{n} paired labeled records, staging right alone on {pairs.staging_only}, production on "
             f"{pairs.production_only} (sequential test: evidence {e_better:.3g} that staging is better, "
             f"{e_worse:.3g} that it is worse; {1 / alpha:.3g} decides)")  # fmt: skip
    if n < min_records:
        return Verdict("wait", f"{score}: fewer than {min_records}", e_better, e_worse)
    if better >= enough:
        return Verdict("promote", f"{score}: staging is better", e_better, e_worse)
    if worse >= enough:
        return Verdict("discard", f"{score}: staging is worse", e_better, e_worse)
    if n >= max_records:
        return Verdict("discard", f"{score}: no better within {max_records}", e_better, e_worse)
    return Verdict("wait", score, e_better, e_worse)


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
