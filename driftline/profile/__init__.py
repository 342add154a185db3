"""The drift reference (DESIGN section 6): reference bins and fractions per feature and for the prediction."""

from __future__ import annotations

from driftline.profile.bins import PREDICTION
from driftline.profile.reference import Profile

__all__ = ["PREDICTION", "Profile"]
