"""What every scorer of the project does with a batch: probabilities of the right shape, checked before serving.

Two scorers share it: the trainer's (``driftline.scoring``: the Keras model, and the LiteRT flatbuffer it compiles
to) and the worker's (``driftline.litert``: the flatbuffer alone). Each provides ``_run``: a non-empty float32 batch
``(n, width)`` in, the model's raw ``(n, k)`` outputs out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from driftline.errors import DataError, IntegrityError

__all__ = ["BatchScorer", "check_scores"]

logger = logging.getLogger(__name__)

# float32 sigmoid/softmax outputs may overshoot [0, 1] or miss a sum of 1 by rounding
PROBABILITY_SLACK = 1e-4


class BatchScorer:
    """Probabilities for float32 batches of shape ``(n, width)``: binary models (one sigmoid unit) give ``(n,)``,
    the positive-class probability; multiclass models (softmax over k units) give ``(n, k)``. Outputs are float64."""

    width: int
    n_outputs: int
    runtime: str
    _run: Callable[[np.ndarray], np.ndarray]

    @property
    def binary(self) -> bool:
        """True for a single-unit (sigmoid) model, whose scores have shape ``(n,)``."""
        return self.n_outputs == 1

    def output_shape(self, n: int) -> tuple[int, ...]:
        """The shape of the scores for ``n`` rows."""
        return (n,) if self.binary else (n, self.n_outputs)

    def __call__(self, X: np.ndarray) -> np.ndarray:
        """Score a batch: ``(n, width)`` features in, float64 probabilities out. Empty batches skip the model."""
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.width:
            raise DataError(f"expected a batch of shape (n, {self.width}), found {X.shape}")
        if X.shape[0] == 0:
            return np.empty(self.output_shape(0), dtype=np.float64)
        out = self._run(np.ascontiguousarray(X, dtype=np.float32)).astype(np.float64)
        return out[:, 0] if self.binary else out

    def warm_up(self, X: np.ndarray) -> np.ndarray:
        """Score ``X`` (the reference sample) and check the scores (see ``check_scores``) before going live."""
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[0] == 0:
            raise DataError(f"warm-up needs a non-empty batch of shape (n, {self.width}), found {X.shape}")
        return check_scores(self(X), self.output_shape(X.shape[0]), binary=self.binary)


def check_scores(scores: np.ndarray, expected_shape: tuple[int, ...], *, binary: bool) -> np.ndarray:
    """``scores`` if they are finite probabilities of ``expected_shape`` (softmax rows summing to 1), else
    IntegrityError: a model with NaN weights or an unexpected head is refused while the old one serves."""
    if scores.shape != expected_shape:
        raise IntegrityError(f"warm-up: expected scores of shape {expected_shape}, found {scores.shape}")
    bad = ~np.isfinite(scores)
    if bad.any():
        raise IntegrityError(
            f"warm-up: expected finite scores, found {int(bad.sum())} non-finite of {scores.size} "
            f"(first at row {int(np.argwhere(bad)[0][0])})"
        )
    low, high = float(scores.min()), float(scores.max())
    if low < -PROBABILITY_SLACK or high > 1 + PROBABILITY_SLACK:
        raise IntegrityError(f"warm-up: expected probabilities in [0, 1], found values in [{low:.4g}, {high:.4g}]")
    if not binary:
        sums = scores.sum(axis=1)
        if float(np.abs(sums - 1).max()) > PROBABILITY_SLACK * scores.shape[1]:
            raise IntegrityError(
                f"warm-up: expected class probabilities summing to 1 (softmax), found a row summing to "
                f"{float(sums[np.abs(sums - 1).argmax()]):.6g}"
            )
    logger.info("warm-up passed rows=%d score_range=[%.4g, %.4g]", scores.shape[0], low, high)
    return scores
