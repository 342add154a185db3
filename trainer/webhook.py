"""Alertmanager's webhook payload (version 4), checked strictly: what fired, and whether it asks for a retrain."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from driftline.errors import DriftlineError

RETRAIN_ALERTS = frozenset(
    {
        "DriftlineFeatureDrift",
        "DriftlinePredictionDrift",
        "DriftlinePredictionConfidenceDrift",
        "DriftlineAccuracyDrop",
        "DriftlineErrorRateChange",
    }
)


class PayloadError(DriftlineError):
    """The body is not an Alertmanager v4 webhook payload."""


class _Alert(BaseModel):
    model_config = ConfigDict(extra="allow")

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: str
    fingerprint: str = ""


class _Payload(BaseModel):
    model_config = ConfigDict(extra="allow")

    version: Literal["4"]
    status: Literal["firing", "resolved"]
    receiver: str
    alerts: list[_Alert] = Field(min_length=1)
    groupKey: str = ""


@dataclass(frozen=True)
class Alert:
    name: str
    status: str
    labels: dict[str, str]
    starts_at: str
    fingerprint: str
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def asks_for_retrain(self) -> bool:
        return self.status == "firing" and self.name in RETRAIN_ALERTS

    @property
    def carried_change_ms(self) -> int | None:
        """The change point the rule carries (``change_time_seconds``: a change detector's, dated by the event time
        of the record where the change began), in epoch ms; None if it carries none."""
        carried = self.annotations.get("change_time_seconds") or self.labels.get("change_time_seconds")
        try:
            return int(float(carried) * 1000) if carried else None
        except ValueError:
            return None

    def change_ms(self, lookback_seconds: float) -> int | None:
        """When the change began, in epoch ms: the change point the rule carries, else ``lookback_seconds`` before
        the alert started (a drift window's statistic lags its onset); None if neither can be read."""
        if self.carried_change_ms is not None:
            return self.carried_change_ms
        try:
            started = datetime.fromisoformat(self.starts_at)
        except ValueError:
            return None
        if started.tzinfo is None:
            return None
        return int((started.timestamp() - lookback_seconds) * 1000)

    @property
    def key(self) -> str:
        """Identity of one alert occurrence: repeated notifications of it are duplicates."""
        return f"{self.fingerprint or sorted(self.labels.items())}@{self.starts_at}"


def parse_payload(body: Any) -> list[Alert]:
    """The alerts of a webhook body (already JSON-decoded); PayloadError says what is wrong."""
    try:
        payload = _Payload.model_validate(body)
    except ValidationError as exc:
        raise PayloadError(f"not an Alertmanager version 4 webhook payload: {exc.errors()[:3]}") from exc
    alerts = []
    for alert in payload.alerts:
        name = alert.labels.get("alertname")
        if not name:
            raise PayloadError("an alert without an alertname label")
        alerts.append(Alert(name, alert.status, alert.labels, alert.startsAt, alert.fingerprint, alert.annotations))
    return alerts
