"""The local stack: Kafka (KRaft), Redis, Prometheus and Alertmanager on 127.0.0.1."""

from stack.launcher import ServiceStatus, Stack

__all__ = ["ServiceStatus", "Stack"]
