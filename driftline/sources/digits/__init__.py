"""Handwritten digits as a stream: scikit-learn's digits at MNIST's size, augmented, with switchable image drift."""

from __future__ import annotations

from driftline.sources.digits.drift import ImageDrift, ImageDriftKind, parse_image_drift
from driftline.sources.digits.images import load_digits_28
from driftline.sources.digits.source import DigitsSource

__all__ = ["DigitsSource", "ImageDrift", "ImageDriftKind", "load_digits_28", "parse_image_drift"]
