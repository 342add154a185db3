"""A key's partition: the one Kafka's default partitioner gives it, as the producer and the publisher place keys."""

from kafka.partitioner.default import murmur2 as kafka_python_murmur2

from processors.partitioning import key_partition


def test_key_partition_matches_the_producers_partitioner() -> None:
    for partitions in (1, 3, 6, 7, 32):
        for i in range(2000):
            key = f"rec-{i:08d}".encode()
            assert key_partition(key, partitions) == (kafka_python_murmur2(key) & 0x7FFFFFFF) % partitions


def test_key_partition_spreads_keys() -> None:
    seen = {key_partition(str(i).encode(), 6) for i in range(200)}
    assert seen == set(range(6))
