"""The producer service: streams any source into Kafka (records now, labels after a delay), at a rate."""
