"""The Agrawal et al. (1993) loan-application stream: features, the ten labelling functions, the source."""

from __future__ import annotations

from driftline.sources.agrawal.functions import agrawal_labels
from driftline.sources.agrawal.source import AgrawalSource

__all__ = ["AgrawalSource", "agrawal_labels"]
