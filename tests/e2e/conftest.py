"""The e2e tier uses the integration tier's real-stack fixtures."""

from tests.integration.conftest import (  # noqa: F401 (fixtures)
    kafka_settings,
    pipeline,
    redis_client,
    registry,
    serving_registry,
    settings,
    stack,
    topics,
    unique,
)
