"""Per-image statistics that drift is measured on (DESIGN section 6, issue 21): computed from the decoded ``uint8``
images as received, so no resize is needed and a serving image of any size is judged like a training one.

- ``mean_intensity``: the mean pixel value / 255 (inverted or washed-out images move it);
- ``ink_ratio``: the share of pixel values above 127 (stroke thickness, noise, inversion move it);
- ``contrast``: the pixel values' standard deviation / 255 (blur, noise and faint strokes move it).

Each is binned like a numeric feature named ``<image feature>.<statistic>`` (``image.mean_intensity``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np

from driftline.errors import DataError

STATISTICS: Final = ("mean_intensity", "ink_ratio", "contrast")
_INK: Final = 127  # a pixel value above this is ink (on the 0..255 scale)


def statistic_names(feature: str) -> tuple[str, ...]:
    """The profile's keys for an image feature's statistics, e.g. ``image.mean_intensity``."""
    return tuple(f"{feature}.{stat}" for stat in STATISTICS)


def image_statistics(images: Sequence[np.ndarray] | np.ndarray, feature: str) -> dict[str, np.ndarray]:
    """Each statistic (float64, one value per image) of a column of decoded ``uint8`` images shaped (h, w, c),
    keyed like ``statistic_names(feature)``. Images of one size are stacked and computed in one numpy call each."""
    items = list(images)
    n = len(items)
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for i, item in enumerate(items):
        if not isinstance(item, np.ndarray) or item.dtype != np.uint8 or item.ndim != 3 or item.size == 0:
            found = f"{item.dtype} {item.shape}" if isinstance(item, np.ndarray) else type(item).__name__
            raise DataError(f"image feature {feature!r}: expected decoded uint8 images (h, w, c), found {found} "
                            f"at row {i}")  # fmt: skip
        by_shape.setdefault(item.shape, []).append(i)
    out = {name: np.empty(n, dtype=np.float64) for name in statistic_names(feature)}
    mean, ink, contrast = (out[name] for name in statistic_names(feature))
    for rows in by_shape.values():
        pixels = np.stack([items[i] for i in rows]).reshape(len(rows), -1)
        mean[rows] = pixels.mean(axis=1, dtype=np.float64) / 255.0
        ink[rows] = np.count_nonzero(pixels > _INK, axis=1) / pixels.shape[1]
        contrast[rows] = pixels.std(axis=1, dtype=np.float64) / 255.0
    return out
