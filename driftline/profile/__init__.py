"""The drift reference (DESIGN section 6): reference bins and fractions per feature (an image: per
statistic), for the prediction and its confidence."""

from __future__ import annotations

from driftline.profile.bins import CONFIDENCE, PREDICTION
from driftline.profile.reference import Profile

__all__ = ["CONFIDENCE", "PREDICTION", "Profile"]
