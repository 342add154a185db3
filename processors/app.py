"""The processor's composition root: ``create_app(settings, worker_index)`` wires one faust worker.

Records and labels arrive through group-managed aiokafka batch consumers inside the faust app (see
processors/batch_consumer.py for why not faust's per-event agents); each records batch goes through the
``BatchPipeline`` (processors/pipeline.py), and its offsets are committed once its effects are acknowledged
(at-least-once). faust runs the worker, its timers, the model-updates agent and the web server for ``/metrics``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faust
from aiohttp.web import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from driftline.kafka_admin import ensure_topics
from driftline.log_limit import limit_repeats
from driftline.messages import decode_model_update, shadow_key
from driftline.registry import Registry
from driftline.settings import Settings
from driftline.topics import ProcessorGroups, Topics
from processors.batch_consumer import BatchConsumer, NotWritten, already_acknowledged
from processors.drift_monitor import DriftMonitor
from processors.faust_config import faust_options
from processors.labels import LabelJoin
from processors.metrics import ProcessorMetrics
from processors.model_slot import ModelSlot
from processors.pipeline import BatchPipeline
from processors.publisher import Publisher
from processors.redis_sink import RedisSink, redis_client
from processors.scoring_step import Incoming
from processors.shadow import ShadowSlot
from processors.swap_log import SwapLog

logger = logging.getLogger(__name__)

LABEL_FETCH_MIN_BYTES = 32 * 1024
LABEL_SLICE = 100
EXIT_UNEXPECTED = 70  # an unexpected error: the batch was not committed; a supervisor restarts the worker


def hard_exit(code: int, why: str) -> None:
    """Leave at once and non-zero, so that a supervisor restarts the worker; nothing uncommitted is lost."""
    logger.critical("exiting with code %d: %s", code, why)
    logging.shutdown()
    os._exit(code)


@dataclass(frozen=True)
class Processor:
    """One worker: its faust app, and the metrics it serves."""

    app: faust.App
    metrics: ProcessorMetrics


def create_app(settings: Settings, worker_index: int = 0) -> Processor:
    topics = Topics(settings.kafka.topic_prefix)
    p = settings.processor
    metrics = ProcessorMetrics(CollectorRegistry(auto_describe=True))
    registry = Registry.from_settings(settings, sign=False)  # verifies signatures if a public key is set
    drift = DriftMonitor(metrics, size=p.drift_window, min_records=p.drift_min_records)
    slot = ModelSlot(registry, metrics, on_swap=[lambda bundle: drift.reset(bundle.profile)])
    client = redis_client(settings.redis)
    sink = RedisSink(client, settings.redis, on_retry=lambda exc: metrics.redis_retries.inc())
    shadow = ShadowSlot(registry)  # the staging version, scored beside production while one exists
    shadow_sink = RedisSink(client, settings.redis, on_retry=lambda exc: metrics.redis_retries.inc(), key=shadow_key)
    labels = LabelJoin(client, settings.redis, metrics, change_delta=p.error_change_delta,
                       change_min_window=p.error_change_min_window, change_grace=p.error_change_grace,
                       model=settings.registry.model_name)  # fmt: skip
    options = faust_options(settings, worker_index)
    Path(options["datadir"]).mkdir(parents=True, exist_ok=True)
    groups = ProcessorGroups.of(settings.kafka.topic_prefix, p.group_id)
    group = groups.records
    # Every worker has a faust group of its own, so its model-updates agent hears every update (a broadcast).
    app = faust.App(f"{group}.updates.{socket.gethostname()}.{worker_index}", **options)
    publisher = Publisher(settings.kafka, client_id=f"{group}-producer-{worker_index}")

    def stopping() -> bool:
        return bool(app.should_stop)

    swaps = SwapLog(publisher, topic=topics.model_swaps, records_topic=topics.records,
                    worker=f"{socket.gethostname()}.{worker_index}")  # fmt: skip
    pipeline = BatchPipeline(slot=slot, drift=drift, sink=sink, sender=publisher, topics=topics, metrics=metrics,
                             stopping=stopping, swaps=swaps, shadow=shadow, shadow_sink=shadow_sink)  # fmt: skip

    def assigned(topic: str, n: int) -> None:
        metrics.assigned_partitions.labels(topic=topic).set(n)

    def lag(topic: str, partition: int, behind: int) -> None:
        if behind < 0:
            with contextlib.suppress(KeyError):
                metrics.consumer_lag.remove(topic, str(partition))
        else:
            metrics.consumer_lag.labels(topic=topic, partition=str(partition)).set(behind)

    def polled(topic: str) -> None:
        metrics.consumer_last_poll.labels(topic=topic).set(time.time())

    def consumer(topic: str, group_id: str, within: float, min_bytes: int = 1) -> BatchConsumer:
        return BatchConsumer(settings.kafka, topic, group_id, batch_max=p.batch_max, within_seconds=within,
                             fetch_min_bytes=min_bytes, client_id=f"{group_id}-{worker_index}",
                             on_assignment=assigned, on_lag=lag, on_poll=polled)  # fmt: skip

    @app.task
    async def start_up() -> None:
        limit_repeats(logging.root.handlers)  # the handlers faust's worker installed: an outage must not flood them
        await asyncio.get_running_loop().run_in_executor(None, ensure_topics, settings.kafka)
        while not await slot.reconcile():
            await asyncio.sleep(2.0)
        await shadow.reconcile()

    @app.timer(interval=p.model_reconcile_seconds)
    async def reconcile() -> None:
        await slot.reconcile()
        await shadow.reconcile()

    @app.timer(interval=1.0)  # waiting labels come due every second (LabelJoin.retry_seconds)
    async def late_labels() -> None:
        await labels.handle_due(stopping=stopping)

    @app.timer(interval=1.0)  # the last batches before a pause reach the drift gauges too
    async def drift_gauges() -> None:
        drift.publish()

    @app.agent(app.topic(topics.model_updates, key_type=bytes, value_type=bytes))
    async def model_updates(stream: faust.StreamT[bytes]) -> None:
        async for value in stream:
            update = decode_model_update(value)
            if update is not None and update.model == settings.registry.model_name:
                logger.info("model update heard: version=%s; following the production alias", update.version)
                await slot.reconcile()
                await shadow.reconcile()  # a promotion from staging clears the staging alias

    @app.task
    async def score_records() -> None:
        await slot.wait_ready()
        await publisher.start()
        records = consumer(topics.records, group, p.batch_within_seconds)  # made here: it needs the running loop
        swaps.positions = records.positions
        try:
            await _guarded(records.run(pipeline), "records", stopping)
        finally:  # after the consumer: its last batches' acknowledgements come from this producer
            await publisher.stop()

    @app.task
    async def join_labels() -> None:
        async def handle(messages: list[Incoming], behind: int) -> Awaitable[object]:
            # In slices, each its own lookup: between them the records' batches run, instead of waiting for all.
            for start in range(0, len(messages), LABEL_SLICE):
                chunk = [m.value for m in messages[start : start + LABEL_SLICE]]
                if not await labels.handle(chunk, stopping=stopping):
                    raise NotWritten(f"Redis did not take a slice of {len(chunk)} labels before the stop")
            return already_acknowledged()

        # Labels are not urgent: the broker gathers a few hundred (or waits 0.5 s), so the join costs few rounds.
        labels_loop = consumer(topics.labels, groups.labels, 0.5, LABEL_FETCH_MIN_BYTES).run(handle)
        await _guarded(labels_loop, "labels", stopping)

    @app.page("/metrics")  # type: ignore[arg-type]
    async def metrics_page(web: Any, request: Any) -> Response:
        return Response(body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    return Processor(app, metrics)


async def _guarded(loop: Awaitable[None], what: str, stopping: Callable[[], bool]) -> None:
    """Run a consume loop until the worker stops. Any other end of it (an error, a cancellation that is not a
    shutdown, a return) exits the worker non-zero, so that its supervisor restarts it: a worker that looks alive
    while it consumes nothing is the one failure nobody sees. Its batch in hand was not committed: nothing is lost."""
    try:
        await loop
    except asyncio.CancelledError:
        if stopping():
            raise
        hard_exit(EXIT_UNEXPECTED, f"the {what} loop was cancelled while the worker was not stopping")
    except Exception as exc:
        logger.exception("unexpected error consuming %s", what)
        hard_exit(EXIT_UNEXPECTED, f"{exc.__class__.__name__}: {exc}")
    else:
        if not stopping():
            hard_exit(EXIT_UNEXPECTED, f"the {what} loop ended while the worker was not stopping")
