"""What a retrain is asked to do: why, and from which moment of the stream it may learn."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from driftline.registry.lineage import Trigger


@dataclass(frozen=True)
class RetrainRequest:
    """``since_ms``: train only on records whose event time is at or after it (the change point), as many labeled ones
    as exist up to the cap; None: the most recent labeled records. ``settle_round`` 0 is the one an alert asked for;
    1, 2, ... are the follow-ups that learn again from the same change point once more labels have arrived.
    ``quick``: settle rounds will follow, so this one searches within the short budget (a good model serving soon
    beats a better one later). ``alerts``: the names of the alerts that asked for it (none: the ``retrain``
    command), received at ``received_at``; the version it makes records them as its trigger."""

    reason: str
    since_ms: int | None = None
    settle_round: int = 0
    quick: bool = False
    alerts: tuple[str, ...] = ()
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def settling(self) -> RetrainRequest:
        """The next follow-up of this request (the same alerts, received at the same moment)."""
        round_ = self.settle_round + 1
        base = self.reason.split(" (settle ")[0]
        return replace(self, reason=f"{base} (settle {round_})", settle_round=round_, quick=False)

    @property
    def trigger(self) -> Trigger:
        """What asked for this retrain, as a version's lineage records it."""
        return Trigger("alert" if self.alerts else "retrain", self.received_at, self.alerts, self.reason)
