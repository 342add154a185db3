"""The partition a key goes to: Kafka's default partitioner (Java's murmur2), shared by the producer and the
processor's publisher. Its own module, so that importing the topic names does not import a Kafka client."""

from __future__ import annotations

from aiokafka.partitioner import murmur2


def key_hash(key: bytes) -> int:
    """Kafka's default partitioner's hash of a key (sign bit cleared); partition = hash % count."""
    return int(murmur2(key)) & 0x7FFFFFFF


def key_partition(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a key on a topic of ``partitions`` partitions."""
    return key_hash(key) % partitions
