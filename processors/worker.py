"""Run one processor worker (a faust Worker around ``create_app``)."""

from __future__ import annotations

import logging

import faust

from driftline.affinity import cpu_for, pin_process
from driftline.kafka_clients import check_kafka
from driftline.logs import logging_config as driftline_logging_config
from driftline.redis_clients import check_redis, display_url
from driftline.settings import Settings
from processors.app import create_app
from processors.collector import collect_less_often
from processors.metrics import watch_gc

logger = logging.getLogger(__name__)


def run_worker(settings: Settings, worker_index: int = 0) -> None:
    """Blocks until the worker stops (SIGTERM/SIGINT); exits the process non-zero on an unexpected error. Redis
    refusing the settings' login or TLS raises ``ConfigError`` before the worker starts, and so does Kafka."""
    if settings.processor.pin_cpu:  # before faust, the Kafka clients and TensorFlow start their threads
        cpu = cpu_for(worker_index)
        pin_process(cpu)
        logger.info("worker=%d pinned to CPU %d", worker_index, cpu)
    # Wrong credentials or an untrusted certificate: one line and exit 1 now, instead of retrying every batch's write.
    if not check_redis(settings.redis):
        logger.warning("Redis at %s does not answer yet; the worker retries its writes until it does",
                       display_url(settings.redis.url))  # fmt: skip
    if not check_kafka(settings.kafka):  # its refusal of the certificate or the login, too: one line, exit 1
        logger.warning("Kafka at %s does not answer yet; the worker's clients retry until it does",
                       settings.kafka.bootstrap_servers)  # fmt: skip
    processor = create_app(settings, worker_index)
    logger.info(
        "processor worker=%d group=%s metrics=http://%s:%d/metrics",
        worker_index, processor.app.conf.id, settings.processor.metrics_host,
        settings.processor.metrics_port_base + worker_index,
    )  # fmt: skip
    watch_gc(processor.metrics.gc_pause_seconds)
    collect_less_often()
    # the one logging setup (text or JSON lines on stderr), not faust's colored stdout handler
    logging_config = driftline_logging_config(settings.log_level, settings.log_format)
    faust.Worker(processor.app, loglevel=settings.log_level, quiet=True,
                 logging_config=logging_config).execute_from_commandline()  # fmt: skip
