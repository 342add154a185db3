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

import numpy as np

from driftline.preprocessing.spec import NumericEncoding

__all__ = ["encode", "fit_edges"]


def fit_edges(filled: np.ndarray, encoding: NumericEncoding) -> tuple[float, ...]:
    """Bin edges of an imputed, finite training column: its distinct quantiles at ``0, 1/T, ..., 1``."""
    quantiles = np.quantile(np.asarray(filled, dtype=np.float64), np.linspace(0.0, 1.0, encoding.bins + 1))
    return tuple(float(e) for e in np.unique(quantiles))


def encode(x: np.ndarray, edges: np.ndarray, kind: str, out: np.ndarray) -> None:
    """Write the ``len(edges) - 1`` columns of imputed float64 values ``x`` into ``out`` (shape ``(n, T)``)."""
    bins = len(edges) - 1
    if bins < 1:
        return
    if kind == "quantile_onehot":
        position = np.searchsorted(edges[1:-1], x, side="right")
        out[np.arange(len(x)), position] = 1.0
        return
    lower, width = edges[:-1], np.diff(edges)
    t = (x[:, None] - lower) / width
    if bins == 1:
        out[:, 0] = t[:, 0]
        return
    out[:] = np.clip(t, 0.0, 1.0)
    out[:, 0] = np.minimum(t[:, 0], 1.0)
    out[:, -1] = np.maximum(t[:, -1], 0.0)
