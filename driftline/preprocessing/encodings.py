"""Numeric encodings: bin edges fitted on the training split, then a fixed expansion of each numeric value.

An MLP fed one standardised column per feature has to build every step of a threshold rule out of ReLUs; it
learns thresholds slowly and blurs them. Expanding a value over bins whose edges are training quantiles gives
it those steps directly (Gorishniy, Rubachev and Babenko, 2022, "On embeddings for numerical features in tabular
deep learning"). With edges ``b_0 < b_1 < ... < b_T`` (``T`` bins, so ``T`` output columns):

- ``piecewise_linear`` (the paper's PLE): column ``j`` is ``(x - b_j) / (b_{j+1} - b_j)`` clipped to
  ``[0, 1]``: 1 for bins wholly below ``x``, the position of ``x`` inside its own bin, 0 above. The first column
  is not clipped below and the last is not clipped above, so a serving value outside the training range maps
  outside ``[0, 1]`` (DESIGN section 3: never back to 0 or 1). With one bin it is min-max scaling.
- ``quantile_onehot``: a 1 in the column of the bin holding ``x``; values below ``b_0`` or above ``b_T`` fall
  in the first or last bin (the scaled column that is always kept beside the bins still carries them).

Edges are computed on the imputed training column, in the feature's own units, and persisted in
``preprocessing.json``. Repeated quantiles (a mass of zeros, an integer feature) are merged, so a feature may
get fewer bins than asked; a constant column gets one edge and no bins.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from driftline.preprocessing.spec import NumericEncoding

__all__ = ["Bins", "fit_edges"]


def fit_edges(filled: np.ndarray, encoding: NumericEncoding) -> tuple[float, ...]:
    """Bin edges of an imputed, finite training column: its distinct quantiles at ``0, 1/T, ..., 1``."""
    quantiles = np.quantile(np.asarray(filled, dtype=np.float64), np.linspace(0.0, 1.0, encoding.bins + 1))
    return tuple(float(e) for e in np.unique(quantiles))


class Bins:
    """Every numeric feature's bin columns, written for a whole batch at once.

    Built once from the fitted edges (one array per numeric feature, in contract order). ``piecewise_linear`` writes
    all features' columns with one subtraction, one division and one clip to ``[0, 1]``, then sets the few columns
    that are not clipped on one side (each feature's first and last) apart: a micro-batch of a few records
    otherwise pays a handful of array calls per feature.
    """

    def __init__(self, edges: Sequence[np.ndarray], kind: str) -> None:
        self.kind = kind
        self._edges = tuple(edges)
        counts = [max(len(e) - 1, 0) for e in edges]
        self.width = sum(counts)
        self._feature = np.repeat(np.arange(len(counts)), counts)  # the feature of each column
        self._lower = np.concatenate([e[:-1] for e in edges] or [np.empty(0)])
        self._step = np.concatenate([np.diff(e) for e in edges] or [np.empty(0)])
        ends = np.cumsum(counts, dtype=np.intp)
        many = [(end - count, end - 1) for count, end in zip(counts, ends.tolist(), strict=True) if count > 1]
        self._first = np.array([first for first, _ in many], dtype=np.intp)  # not clipped below
        self._last = np.array([last for _, last in many], dtype=np.intp)  # not clipped above
        self._single = np.array([end - 1 for count, end in zip(counts, ends.tolist(), strict=True) if count == 1],
                                dtype=np.intp)  # one bin: not clipped at all  # fmt: skip

    def write(self, imputed: np.ndarray, out: np.ndarray) -> None:
        """Write the columns of imputed float64 values ``imputed`` (``(features, n)``) into ``out`` (``(n, width)``)."""
        if not self.width:
            return
        if self.kind == "quantile_onehot":
            start = 0
            for x, edges in zip(imputed, self._edges, strict=True):
                bins = len(edges) - 1
                if bins >= 1:
                    position = np.searchsorted(edges[1:-1], x, side="right")
                    out[np.arange(len(x)), start + position] = 1.0
                    start += bins
            return
        t = imputed.T.take(self._feature, axis=1)
        t -= self._lower
        t /= self._step
        np.clip(t, 0.0, 1.0, out=out)
        out[:, self._first] = np.minimum(t[:, self._first], 1.0)
        out[:, self._last] = np.maximum(t[:, self._last], 0.0)
        out[:, self._single] = t[:, self._single]
