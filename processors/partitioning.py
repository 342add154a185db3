"""The partition a key goes to: Kafka's default partitioner (Java's murmur2), for the publisher's predictions."""

from __future__ import annotations

from aiokafka.partitioner import murmur2


def key_partition(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a key on a topic of ``partitions`` partitions."""
    return (int(murmur2(key)) & 0x7FFFFFFF) % partitions
