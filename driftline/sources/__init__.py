"""Data sources: scenario generators and file replay, all yielding contract records with labels kept apart."""

from __future__ import annotations

from driftline.sources.agrawal import AgrawalSource, agrawal_labels
from driftline.sources.base import LabeledRecord, Source, to_frame
from driftline.sources.digits import DigitsSource, ImageDrift, ImageDriftKind
from driftline.sources.drift import DriftKind, DriftSpec, parse_drift
from driftline.sources.files import FileSource

__all__ = [
    "AgrawalSource",
    "DigitsSource",
    "DriftKind",
    "DriftSpec",
    "FileSource",
    "ImageDrift",
    "ImageDriftKind",
    "LabeledRecord",
    "Source",
    "agrawal_labels",
    "parse_drift",
    "to_frame",
]
