"""Pure drift statistics (DESIGN section 6): PSI, and a sliding window of per-batch count vectors.

No clocks and no I/O: the processor feeds ``Profile.counts`` of each scored batch into a ``DriftWindow`` and
turns ``snapshot()`` into gauges. A model swap brings a new profile, so a new window (bins differ by version).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from driftline.profile import CONFIDENCE, PREDICTION, Profile


def psi(
    expected_fractions: Sequence[float] | np.ndarray,
    actual_counts: Sequence[int] | np.ndarray,
    eps: float = 1e-4,
) -> float:
    """Population stability index of a batch against reference fractions.

    With ``e_i = max(expected_i, eps)`` and ``a_i = max(actual_i / sum(actual), eps)`` (the epsilon floors
    both sides, so an empty bin costs a bounded amount instead of infinity)::

        PSI = sum_i (a_i - e_i) * ln(a_i / e_i)

    0 for identical distributions; below 0.1 stable, 0.1-0.25 watch, above 0.25 drift (the usual reading).
    """
    expected = np.asarray(expected_fractions, dtype=np.float64)
    actual = np.asarray(actual_counts, dtype=np.float64)
    if expected.shape != actual.shape or expected.ndim != 1:
        raise ValueError(
            f"expected and actual must be 1-D of one length, found {expected.shape} and {actual.shape}"
        )
    total = actual.sum()
    if total <= 0:
        raise ValueError("actual counts are empty; PSI needs at least one record")
    a = np.maximum(actual / total, eps)
    e = np.maximum(expected, eps)
    return float(np.sum((a - e) * np.log(a / e)))


@dataclass(frozen=True)
class DriftSnapshot:
    """Drift over the current window: PSI per feature (an image: per statistic, ``image.ink_ratio``), of the
    prediction and of its confidence (None for a profile without confidence bins), data-quality ratios."""

    records: int
    batches: int
    feature_psi: dict[str, float]
    missing_ratio: dict[str, float]
    unknown_ratio: dict[str, float]  # categorical features only
    prediction_psi: float
    confidence_psi: float | None = None


class DriftWindow:
    """The last ``size`` scored records (a little more: whole batches are evicted) as per-batch count vectors.

    ``add`` is O(bins) per batch; running totals are integers, so adding and evicting never accumulates error.
    Missing and unknown counts come from the count vectors' missing/unknown bins, so they cannot disagree with
    the PSI inputs.
    """

    def __init__(self, profile: Profile, size: int = 5000, min_records: int = 1000) -> None:
        if size < 1 or not 1 <= min_records <= size:
            raise ValueError(f"need size >= 1 and 1 <= min_records <= size, found {size=} {min_records=}")
        self.profile = profile
        self.size = size
        self.min_records = min_records
        self._expected = profile.fractions()
        self._categorical = frozenset(profile.categorical_names)
        self._batches: deque[tuple[int, dict[str, np.ndarray]]] = deque()
        self._totals = {k: np.zeros(len(v), dtype=np.int64) for k, v in self._expected.items()}
        self._records = 0

    @property
    def records(self) -> int:
        return self._records

    @property
    def batches(self) -> int:
        return len(self._batches)

    def add(self, counts: Mapping[str, np.ndarray]) -> None:
        """Add one batch's ``Profile.counts``; evict oldest batches while the rest still hold ``size``."""
        if set(counts) != set(self._totals):
            raise ValueError(
                f"counts keys {sorted(counts)} do not match the profile's {sorted(self._totals)}"
            )
        batch = {k: np.array(counts[k], dtype=np.int64) for k in self._totals}
        n = int(batch[PREDICTION].sum())
        for k, c in batch.items():
            if c.shape != self._totals[k].shape or int(c.sum()) != n:
                raise ValueError(f"count vector {k!r} must have {len(self._totals[k])} bins summing to {n}")
        if n == 0:
            return
        self._batches.append((n, batch))
        self._records += n
        for k, c in batch.items():
            self._totals[k] += c
        while len(self._batches) > 1 and self._records - self._batches[0][0] >= self.size:
            old_n, old = self._batches.popleft()
            self._records -= old_n
            for k, c in old.items():
                self._totals[k] -= c

    def snapshot(self) -> DriftSnapshot | None:
        """PSI and ratios over the window, or None while it holds fewer than ``min_records``."""
        if self._records < self.min_records:
            return None
        n = self._records
        features = [k for k in self._totals if k not in (PREDICTION, CONFIDENCE)]
        return DriftSnapshot(
            records=n,
            batches=len(self._batches),
            feature_psi={k: psi(self._expected[k], self._totals[k]) for k in features},
            missing_ratio={k: int(self._totals[k][-1]) / n for k in features},
            unknown_ratio={k: int(self._totals[k][-2]) / n for k in features if k in self._categorical},
            prediction_psi=psi(self._expected[PREDICTION], self._totals[PREDICTION]),
            confidence_psi=(
                psi(self._expected[CONFIDENCE], self._totals[CONFIDENCE]) if CONFIDENCE in self._totals else None
            ),
        )

    def reset(self) -> None:
        """Forget every batch (e.g. after a model swap with the same profile)."""
        self._batches.clear()
        for total in self._totals.values():
            total[:] = 0
        self._records = 0
