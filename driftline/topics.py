"""Kafka topic names (DESIGN section 5), derived from one prefix."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str]


@dataclass(frozen=True)
class Topics:
    """The names every part agrees on. ``Topics("test-123.")`` isolates a test run."""

    prefix: str = "driftline."

    @property
    def records(self) -> str:
        return f"{self.prefix}records"

    @property
    def labels(self) -> str:
        return f"{self.prefix}labels"

    @property
    def predictions(self) -> str:
        return f"{self.prefix}predictions"

    @property
    def predictions_shadow(self) -> str:
        """The staging version's predictions, scored beside production's (never in their place)."""
        return f"{self.prefix}predictions-shadow"

    @property
    def dead_letter(self) -> str:
        return f"{self.prefix}dead-letter"

    @property
    def model_updates(self) -> str:
        return f"{self.prefix}model-updates"

    @property
    def model_swaps(self) -> str:
        return f"{self.prefix}model-swaps"


@dataclass(frozen=True)
class ProcessorGroups:
    """The processor workers' consumer groups: one for records, one for labels (each consumes one topic)."""

    records: str
    labels: str

    @classmethod
    def of(cls, prefix: str, group_id: str | None = None) -> ProcessorGroups:
        """The names from the topic prefix, or from ``processor.group_id`` when it is set."""
        group = group_id or f"{prefix}processor"
        return cls(records=group, labels=f"{group}.labels")

    def topics(self, topics: Topics) -> dict[str, str]:
        """Each group and the topic it consumes."""
        return {self.records: topics.records, self.labels: topics.labels}


def topic_specs(
    topics: Topics,
    *,
    records: int = 6,
    labels: int = 6,
    predictions: int = 6,
    dead_letter: int = 3,
) -> list[TopicSpec]:
    """The topics Driftline needs, with their partition counts and configs."""
    return [
        TopicSpec(topics.records, records, {}),
        TopicSpec(topics.labels, labels, {}),
        TopicSpec(topics.predictions, predictions, {}),
        TopicSpec(topics.predictions_shadow, predictions, {}),
        TopicSpec(topics.dead_letter, dead_letter, {}),
        TopicSpec(topics.model_updates, 1, {"cleanup.policy": "compact"}),
        TopicSpec(topics.model_swaps, 1, {}),  # one message per swap per worker: kept, as the records are
    ]
