"""The lag arithmetic of the trainer's exporter and what it serves (against Kafka: integration/test_consumer_lag.py)."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from driftline.settings import KafkaSettings
from driftline.topics import ProcessorGroups, Topics
from trainer.consumer_lag import ConsumerLagExporter, PartitionLag, partition_lag


@pytest.mark.parametrize(
    ("committed", "start", "end", "lag"),
    [
        (7, 0, 10, 3),  # committed 7 of 10
        (10, 0, 10, 0),  # caught up
        (None, 0, 10, 10),  # no commit: from the log start
        (-1, 0, 10, 10),  # Kafka's "no commit"
        (None, 4, 10, 6),  # the log start moved (retention): only what is left counts
        (2, 4, 10, 6),  # a commit retention has overtaken: consumption resumes at the log start
        (12, 0, 10, 0),  # a commit beyond the end (a topic recreated) is not negative lag
        (None, 0, 0, 0),  # an empty partition
    ],
)
def test_partition_lag(committed: int | None, start: int, end: int, lag: int) -> None:
    assert partition_lag(committed, start, end) == lag


def test_the_processor_groups_and_their_topics() -> None:
    topics = Topics("x.")
    assert ProcessorGroups.of("x.").topics(topics) == {"x.processor": "x.records", "x.processor.labels": "x.labels"}
    assert ProcessorGroups.of("x.", "mine").topics(topics) == {"mine": "x.records", "mine.labels": "x.labels"}


def test_the_last_reading_is_served_and_nothing_before_the_first() -> None:
    registry = CollectorRegistry(auto_describe=True)
    exporter = ConsumerLagExporter(KafkaSettings(), {"g": "t"}, registry, interval_seconds=5)
    value = registry.get_sample_value
    assert value("driftline_consumer_group_lag", {"group": "g", "topic": "t", "partition": "0"}) is None
    assert value("driftline_consumer_group_lag_timestamp_seconds") is None
    assert value("driftline_consumer_group_lag_failures_total") == 0
    exporter.readings = [PartitionLag("g", "t", 0, 5), PartitionLag("g", "t", 1, 0)]
    exporter.read_at, exporter.failures = 1_800_000_000.0, 2
    assert value("driftline_consumer_group_lag", {"group": "g", "topic": "t", "partition": "0"}) == 5
    assert value("driftline_consumer_group_lag", {"group": "g", "topic": "t", "partition": "1"}) == 0
    assert value("driftline_consumer_group_lag_timestamp_seconds") == 1_800_000_000.0
    assert value("driftline_consumer_group_lag_failures_total") == 2
