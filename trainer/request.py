"""What a retrain is asked to do: why, and from which moment of the stream it may learn."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RetrainRequest:
    """``since_ms``: train only on records whose event time is at or after it (the change point), as many labeled ones
    as exist up to the cap; None: the most recent labeled records. ``settle_round`` 0 is the one an alert asked for;
    1, 2, ... are the follow-ups that learn again from the same change point once more labels have arrived.
    ``quick``: settle rounds will follow, so this one searches within the short budget (a good model serving soon
    beats a better one later)."""

    reason: str
    since_ms: int | None = None
    settle_round: int = 0
    quick: bool = False

    def settling(self) -> RetrainRequest:
        """The next follow-up of this request."""
        round_ = self.settle_round + 1
        base = self.reason.split(" (settle ")[0]
        return RetrainRequest(f"{base} (settle {round_})", self.since_ms, round_)
