"""ADWIN change detection (Bifet & Gavaldà 2007), as River's ``river.drift.ADWIN`` does it; pure Python.

The window is an exponential histogram: row ``i`` holds up to ``max_buckets`` buckets of ``2**i`` elements (total and
sum of squared deviations each), the newest in row 0; a row that overflows merges its two oldest buckets into the
next row. Every ``clock`` updates, once the window holds more than ``grace_period`` elements, every bucket boundary
splits the window into an older part W0 (``n0`` elements) and a newer part W1 (``n1``). A cut is significant when both
parts hold at least ``min_window_length`` elements and::

    |mean(W0) - mean(W1)| > sqrt(2 m var L) + 2/3 L m,
    m = 1/(n0 - min_window_length + 1) + 1/(n1 - min_window_length + 1),
    L = ln(2 ln(width) / delta),        var = the window's variance

that is Bernstein's inequality with confidence delta / ln(width) per cut (River's delta' in place of the paper's
delta / n). While a cut is significant the oldest bucket is dropped and the window is tested again. After a reported
drift the next update starts an empty window, as River does.

The change point reported is not where ADWIN stops cutting (the window it keeps still holds the old regime's last
elements, as many as the test cannot yet tell apart) but the bucket boundary of the window before the cut that
maximises the two-sample statistic ``(mean(W1) - mean(W0))**2 * n0 * n1 / width``: the least-squares split.

False-alarm bound. For values in [0, 1] (an error indicator), on a stationary stream (taking the window's variance for
the stream's), one cut is significant with probability at most delta / ln(width), half that for one direction. A
check tests fewer than ``max_buckets * (log2(width) + 1)`` cuts, so one check raises a false alarm with probability at
most ``max_buckets * delta`` one-sided (twice that two-sided), and the expected number of false alarms over ``n``
updates is at most ``n / clock * max_buckets * delta`` one-sided. This union bound over overlapping cuts and checks is
loose: the rate observed is far lower.

``one_sided=True`` reports only an increase of the mean (an error rate going up). A significant decrease still
shrinks the window, so the estimate follows a model that got better, but it is not a drift.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Change:
    """A detected change. Positions count updates since the detector was built, from 0."""

    position: int  # the first element after the change point: where the new regime is estimated to begin
    detected_at: int  # the update that detected it
    dropped: int  # elements ADWIN cut from its window
    mean_before: float  # mean of the window before the change point (the old regime)
    mean_after: float  # mean of the window from the change point on (the new regime)


class Adwin:
    """ADaptive WINdowing drift detector: ``update(x)``, then read ``drift_detected`` (and ``change`` if so)."""

    def __init__(
        self,
        delta: float = 0.002,
        *,
        clock: int = 32,
        max_buckets: int = 5,
        min_window_length: int = 5,
        grace_period: int = 10,
        one_sided: bool = False,
    ) -> None:
        if not 0.0 < delta < 1.0:
            raise ValueError(f"delta must be in (0, 1), found {delta}")
        if clock < 1 or max_buckets < 2 or min_window_length < 1 or grace_period < 0:
            raise ValueError(
                "expected clock >= 1, max_buckets >= 2, min_window_length >= 1, grace_period >= 0; found "
                f"{clock}, {max_buckets}, {min_window_length}, {grace_period}"
            )
        self.delta = delta
        self.clock = clock
        self.max_buckets = max_buckets
        self.min_window_length = min_window_length
        self.grace_period = grace_period
        self.one_sided = one_sided
        self.n_seen = 0  # updates since the detector was built (never reset)
        self.n_detections = 0
        self.drift_detected = False
        self.change: Change | None = None  # the last reported change
        self._reset()

    def _reset(self) -> None:
        # _totals[i] / _variances[i]: row i's buckets of 2**i elements, oldest first; row 0 is the newest.
        self._totals: list[list[float]] = [[]]
        self._variances: list[list[float]] = [[]]
        self._width = 0.0
        self._total = 0.0
        self._variance = 0.0  # sum of squared deviations from the window's mean
        self._tick = 0

    @property
    def width(self) -> int:
        """Elements in the window."""
        return int(self._width)

    @property
    def total(self) -> float:
        """Sum of the elements in the window."""
        return self._total

    @property
    def variance(self) -> float:
        """Sum of squared deviations from the window's mean (as River's ``variance``)."""
        return self._variance

    @property
    def estimation(self) -> float:
        """Mean of the window (0 when empty)."""
        return self._total / self._width if self._width else 0.0

    def update(self, x: float) -> None:
        """Add one element; ``drift_detected`` then says whether this update found a change."""
        if self.drift_detected:
            self._reset()
            self.drift_detected = False
        self.n_seen += 1
        x = float(x)
        width = self._width + 1.0
        if width > 1.0:
            d = x - self._total / (width - 1.0)
            self._variance += (width - 1.0) * d * d / width
        self._width = width
        self._total += x
        totals = self._totals[0]
        totals.append(x)
        self._variances[0].append(0.0)
        if len(totals) > self.max_buckets:
            self._merge()
        self._tick += 1
        if self._tick % self.clock == 0 and self._width > self.grace_period:
            self._detect()

    def _merge(self) -> None:
        """Cascade merges of the two oldest buckets of each overflowing row into the next row."""
        totals_rows, variances_rows = self._totals, self._variances
        limit = self.max_buckets
        row = 0
        while len(totals_rows[row]) > limit:
            totals, variances = totals_rows[row], variances_rows[row]
            size = float(1 << row)
            t0, t1 = totals[0], totals[1]
            mu0, mu1 = t0 / size, t1 / size
            merged_variance = variances[0] + variances[1] + size * 0.5 * (mu0 - mu1) * (mu0 - mu1)
            del totals[:2], variances[:2]
            if row + 1 == len(totals_rows):
                totals_rows.append([])
                variances_rows.append([])
            totals_rows[row + 1].append(t0 + t1)
            variances_rows[row + 1].append(merged_variance)
            row += 1

    def _drop_oldest(self) -> None:
        """Remove the oldest bucket."""
        last = len(self._totals) - 1
        size = float(1 << last)
        total = self._totals[last].pop(0)
        variance = self._variances[last].pop(0)
        mu = total / size
        self._width -= size
        self._total -= total
        mu_window = self._total / self._width
        self._variance -= variance + size * self._width * (mu - mu_window) * (mu - mu_window) / (size + self._width)
        if not self._totals[last]:
            self._totals.pop()
            self._variances.pop()

    def _significant_cut(self) -> int:
        """Scan the cuts oldest first: 1 for an increase, -1 for a decrease at the first significant one, else 0."""
        width = self._width
        dp = math.log(2.0 * math.log(width) / self.delta)
        a = 2.0 * (self._variance / width) * dp  # epsilon = sqrt(a m) + b m
        b = 2.0 / 3.0 * dp
        offset = self.min_window_length - 1.0
        min_len = self.min_window_length
        n0 = u0 = 0.0
        n1, u1 = width, self._total
        sqrt = math.sqrt
        rows = self._totals
        for row in range(len(rows) - 1, -1, -1):
            size = float(1 << row)
            # The cut after the newest element (an empty W1) is not a cut.
            totals = rows[row] if row else rows[0][:-1]
            for t in totals:
                n0 += size
                n1 -= size
                u0 += t
                u1 -= t
                if n1 >= min_len and n0 >= min_len:
                    delta_mean = u0 / n0 - u1 / n1
                    m = 1.0 / (n0 - offset) + 1.0 / (n1 - offset)
                    if abs(delta_mean) > sqrt(a * m) + b * m:
                        return 1 if delta_mean < 0.0 else -1
        return 0

    def _best_cut(self) -> tuple[float, float]:
        """The cut most likely to be the change point: elements and total of W0 at the largest
        ``(mean(W1) - mean(W0))**2 / (1/n0 + 1/n1)`` (with ``one_sided``, among increases only)."""
        width, min_len = self._width, self.min_window_length
        n0 = u0 = 0.0
        best = (-1.0, 0.0, 0.0)
        rows = self._totals
        for row in range(len(rows) - 1, -1, -1):
            size = float(1 << row)
            for t in rows[row] if row else rows[0][:-1]:
                n0 += size
                u0 += t
                n1 = width - n0
                if n0 < min_len or n1 < min_len:
                    continue
                rise = (self._total - u0) / n1 - u0 / n0
                if self.one_sided and rise <= 0.0:
                    continue
                score = rise * rise * n0 * n1 / width
                if score > best[0]:
                    best = (score, n0, u0)
        return best[1], best[2]

    def _detect(self) -> None:
        direction = self._significant_cut()
        if direction == 0:
            return
        width_before, total_before = self._width, self._total
        n_cut, u_cut = self._best_cut()
        increased = False
        while direction:
            increased = increased or direction > 0
            self._drop_oldest()
            direction = self._significant_cut()
        if self.one_sided and not increased:
            return
        self.drift_detected = True
        self.n_detections += 1
        start = self.n_seen - int(width_before)  # the position of the window's oldest element
        if n_cut == 0.0:  # the increase shows only once older buckets are dropped: ADWIN's own cut, then
            n_cut, u_cut = width_before - self._width, total_before - self._total
        self.change = Change(
            position=start + int(n_cut),
            detected_at=self.n_seen - 1,
            dropped=int(width_before - self._width),
            mean_before=u_cut / n_cut,
            mean_after=(total_before - u_cut) / (width_before - n_cut),
        )
