"""`driftline produce`'s RecordProducer against the real broker: where records and labels land, and Kafka's errors."""

from __future__ import annotations

from dataclasses import replace

import orjson
import pytest

from driftline.errors import DriftlineError
from driftline.kafka_admin import ensure_topics, specs_for
from driftline.settings import KafkaSettings
from driftline.sources import AgrawalSource
from driftline.topics import Topics
from harness.kafka_reading import read_topic
from harness.topics import delete_prefixed_topics
from processors.partitioning import key_partition
from producers.producer import ProduceOptions, RecordProducer

N = 2_000


def test_records_and_labels_land_once_each_where_kafkas_partitioner_puts_their_id(
    kafka_settings: KafkaSettings, topics: Topics
) -> None:
    source = AgrawalSource(seed=41)
    producer = RecordProducer(kafka_settings)
    try:
        report = producer.run(source, ProduceOptions(count=N, bad_ratio=0.01, seed=3))
    finally:
        producer.close()
    assert (report.records, report.labels, report.failed) == (N, N, 0)
    assert report.bad_records > 0

    records = read_topic(kafka_settings, topics.records, expect=N + report.bad_records)
    labels = read_topic(kafka_settings, topics.labels, expect=N)
    assert len(records) == N + report.bad_records and len(labels) == N
    expected = {item.record["id"]: item for item in source.take(N)}
    good = [r for r in records if r.key is not None and r.key.decode() in expected]
    assert sorted(r.key.decode() for r in good) == sorted(expected)  # every id once
    for message in good:
        record = orjson.loads(message.value)
        sent = expected[message.key.decode()].record
        assert {k: v for k, v in record.items() if k != "event_time"} == {
            k: v for k, v in sent.items() if k != "event_time"
        }
        assert message.partition == key_partition(message.key, kafka_settings.records_partitions)
    for message in labels:
        label = orjson.loads(message.value)
        assert label["label"] == expected[label["id"]].label
        assert message.key == label["id"].encode()
        assert message.partition == key_partition(message.key, kafka_settings.labels_partitions)


def test_records_kafka_refuses_are_counted_and_raised_not_swallowed(kafka_settings: KafkaSettings) -> None:
    # A records topic created with a limit smaller than any batch of a few records: the broker refuses them. Created
    # so, not altered afterwards: a config change reaches the partition's log a moment after the admin call returns.
    kafka = kafka_settings.model_copy(update={"topic_prefix": f"{kafka_settings.topic_prefix}small."})
    records = Topics(kafka.topic_prefix).records
    ensure_topics(kafka, [replace(spec, config={"max.message.bytes": "600"}) if spec.name == records else spec
                          for spec in specs_for(kafka)])  # fmt: skip
    producer = RecordProducer(kafka)
    try:
        with pytest.raises(DriftlineError, match="sends to Kafka failed") as raised:
            producer.run(AgrawalSource(seed=42), ProduceOptions(count=500, send_labels=False))
    finally:
        producer.close()
        delete_prefixed_topics(kafka)
    assert "too large" in str(raised.value).lower()
