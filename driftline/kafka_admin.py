"""Creating Driftline's topics (DESIGN section 5) with kafka-python's admin client, idempotently."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from driftline.errors import DriftlineError
from driftline.kafka_clients import check_kafka, client_options
from driftline.settings import KafkaSettings
from driftline.topics import Topics, TopicSpec, topic_specs

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopicOutcome:
    name: str
    partitions: int
    outcome: str  # "created" | "exists"


def admin_client(kafka: KafkaSettings, client_id: str = "driftline-admin"):
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    if kafka.security_protocol != "PLAINTEXT":  # an untrusted certificate, a refused login: one line, not a timeout
        check_kafka(kafka)
    try:
        return KafkaAdminClient(
            client_id=client_id, request_timeout_ms=kafka.request_timeout_ms, **client_options(kafka)
        )
    except (KafkaError, OSError) as exc:
        raise DriftlineError(
            f"cannot reach Kafka at {kafka.bootstrap_servers}: {exc}; is the stack up? (driftline stack up)"
        ) from exc


def specs_for(kafka: KafkaSettings) -> list[TopicSpec]:
    return topic_specs(
        Topics(kafka.topic_prefix),
        records=kafka.records_partitions,
        labels=kafka.labels_partitions,
        predictions=kafka.predictions_partitions,
        dead_letter=kafka.dead_letter_partitions,
    )


def ensure_topics(kafka: KafkaSettings, specs: Sequence[TopicSpec] | None = None) -> list[TopicOutcome]:
    """Create the topics that are missing and check that the existing ones have the expected partitions."""
    specs = list(specs) if specs is not None else specs_for(kafka)
    admin = admin_client(kafka)
    try:
        existing = {t["name"]: len(t["partitions"]) for t in admin.describe_topics([s.name for s in specs])
                    if t.get("error_code", 0) == 0}
        missing = [s for s in specs if s.name not in existing]
        if missing:
            admin.create_topics(
                {
                    s.name: {
                        "num_partitions": s.partitions,
                        "replication_factor": kafka.replication_factor,
                        "configs": s.config,
                    }
                    for s in missing
                },
                wait_for_metadata=True,
                raise_errors=True,
            )
        outcomes = []
        for spec in specs:
            if spec.name in existing:
                if existing[spec.name] != spec.partitions:
                    logger.warning(
                        "topic %s has %d partitions, the settings ask for %d; leaving it as it is",
                        spec.name, existing[spec.name], spec.partitions,
                    )
                outcomes.append(TopicOutcome(spec.name, existing[spec.name], "exists"))
            else:
                outcomes.append(TopicOutcome(spec.name, spec.partitions, "created"))
        return outcomes
    finally:
        admin.close()
