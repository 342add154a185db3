"""The processor's composition root: ``create_app(settings, worker_index)`` builds one faust worker.

Per micro-batch: validate, dead-letter the rejections, score the rest with the model slot's current version,
write Redis (one command), send to the predictions topic, update drift and metrics; the batch's offsets are
committed once Kafka has acknowledged its sends (at-least-once), while the next batches are processed. Records
and labels arrive through group-managed aiokafka batch consumers inside the faust app (see
processors/batch_consumer.py for why not faust's per-event agents); predictions and dead letters leave through
the worker's own producer, one record batch per partition (processors/publisher.py). faust runs the worker, its
timers, the model-updates agent and the web server that serves ``/metrics``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faust
from aiohttp.web import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from driftline.kafka_admin import ensure_topics
from driftline.messages import DeadLetter, dead_letter_headers, decode_model_update
from driftline.registry import Registry
from driftline.settings import Settings
from driftline.topics import Topics
from processors.batch_consumer import BatchConsumer, already_acknowledged
from processors.faust_config import faust_options
from processors.labels import LabelJoin
from processors.metrics import ProcessorMetrics
from processors.model_slot import ModelSlot
from processors.publisher import Publisher
from processors.redis_sink import RedisSink, redis_client
from processors.scoring_step import Incoming, StepResult

logger = logging.getLogger(__name__)

LABEL_FETCH_MIN_BYTES = 32 * 1024
LABEL_SLICE = 100
EXIT_UNEXPECTED = 70  # an unexpected error: the batch was not committed; a supervisor restarts the worker


def hard_exit(code: int, why: str) -> None:
    """Leave at once and non-zero, so that a supervisor restarts the worker; nothing uncommitted is lost."""
    logger.critical("exiting with code %d: %s", code, why)
    logging.shutdown()
    os._exit(code)


@dataclass
class Processor:
    """One worker: its faust app and the parts the agents use (exposed for tests)."""

    app: faust.App
    settings: Settings
    worker_index: int
    metrics: ProcessorMetrics
    slot: ModelSlot
    sink: RedisSink
    labels: LabelJoin
    topics: Topics
    publisher: Publisher


def create_app(settings: Settings, worker_index: int = 0) -> Processor:
    topics = Topics(settings.kafka.topic_prefix)
    metrics = ProcessorMetrics(CollectorRegistry(auto_describe=True))
    registry = Registry(settings.registry.root, settings.registry.model_name)
    slot = ModelSlot(registry, metrics, settings.processor)
    client = redis_client(settings.redis)
    sink = RedisSink(client, settings.redis, on_retry=lambda exc: metrics.redis_retries.inc())
    labels = LabelJoin(client, settings.redis, metrics)
    p = settings.processor
    options = faust_options(settings, worker_index)
    Path(options["datadir"]).mkdir(parents=True, exist_ok=True)
    group = p.group_id or f"{settings.kafka.topic_prefix}processor"
    # Every worker has a faust group of its own, so its model-updates agent hears every update (a broadcast).
    app = faust.App(f"{group}.updates.{socket.gethostname()}.{worker_index}", **options)
    publisher = Publisher(settings.kafka, client_id=f"{group}-producer-{worker_index}")
    processor = Processor(app, settings, worker_index, metrics, slot, sink, labels, topics, publisher)

    def assigned(topic: str, n: int) -> None:
        metrics.assigned_partitions.labels(topic=topic).set(n)

    def lag(topic: str, partition: int, behind: int) -> None:
        if behind < 0:
            with contextlib.suppress(KeyError):
                metrics.consumer_lag.remove(topic, str(partition))
        else:
            metrics.consumer_lag.labels(topic=topic, partition=str(partition)).set(behind)

    def consumer(topic: str, group_id: str, within: float, min_bytes: int = 1) -> BatchConsumer:
        return BatchConsumer(settings.kafka, topic, group_id, batch_max=p.batch_max, within_seconds=within,
                             fetch_min_bytes=min_bytes, client_id=f"{group_id}-{worker_index}",
                             on_assignment=assigned, on_lag=lag)  # fmt: skip

    def stopping() -> bool:
        return bool(app.should_stop)

    @app.task
    async def start_up() -> None:
        await asyncio.get_running_loop().run_in_executor(None, ensure_topics, settings.kafka)
        while not await slot.reconcile():
            await asyncio.sleep(2.0)

    @app.timer(interval=p.model_reconcile_seconds)
    async def reconcile() -> None:
        await slot.reconcile()

    @app.timer(interval=1.0)  # waiting labels come due every second (LabelJoin.retry_seconds)
    async def late_labels() -> None:
        await labels.handle_due(stopping=stopping)

    @app.timer(interval=1.0)  # the last batches before a pause reach the drift gauges too
    async def drift_gauges() -> None:
        metrics.drift.publish()

    @app.agent(app.topic(topics.model_updates, key_type=bytes, value_type=bytes))
    async def model_updates(stream: faust.StreamT[bytes]) -> None:
        async for value in stream:
            update = decode_model_update(value)
            if update is not None and update.model == settings.registry.model_name:
                logger.info("model update heard: version=%s; following the production alias", update.version)
                await slot.reconcile()

    @app.task
    async def score_records() -> None:
        await slot.wait_ready()

        async def handle(messages: list[Incoming]) -> Awaitable[object] | None:
            return await process_batch(processor, messages)

        await publisher.start()
        try:
            await _guarded(consumer(topics.records, group, p.batch_within_seconds).run(handle), "records")
        finally:  # after the consumer: its last batches' acknowledgements come from this producer
            await publisher.stop()

    @app.task
    async def join_labels() -> None:
        async def handle(messages: list[Incoming]) -> Awaitable[object] | None:
            # In slices, each its own lookup: between them the records' batches run, instead of waiting for all.
            for start in range(0, len(messages), LABEL_SLICE):
                chunk = [m.value for m in messages[start : start + LABEL_SLICE]]
                if not await labels.handle(chunk, stopping=stopping):
                    return None
            return already_acknowledged()

        # Labels are not urgent: the broker gathers a few hundred (or waits 0.5 s), so the join costs few rounds.
        await _guarded(consumer(topics.labels, f"{group}.labels", 0.5, LABEL_FETCH_MIN_BYTES).run(handle), "labels")

    @app.page("/metrics")  # type: ignore[arg-type]
    async def metrics_page(web: Any, request: Any) -> Response:
        return Response(body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    return processor


async def _guarded(loop: Awaitable[None], what: str) -> None:
    """Run a consume loop; an unexpected error ends the worker non-zero (its batch was not committed)."""
    try:
        await loop
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        logger.exception("unexpected error consuming %s", what)
        hard_exit(EXIT_UNEXPECTED, f"{exc.__class__.__name__}: {exc}")


async def process_batch(processor: Processor, messages: list[Incoming]) -> Awaitable[object] | None:
    """Everything for one batch: None if it was not written to Redis (do not commit it), else an awaitable that
    completes when its dead letters and predictions are acknowledged by Kafka (commit it after that)."""
    started = time.perf_counter()
    step, window = processor.slot.current()
    result = step(messages)
    m = processor.metrics
    topics, publisher = processor.topics, processor.publisher
    pending = [await _dead_letter(processor, messages[r.index], r) for r in result.rejections]
    if not await processor.sink.write(result.ids, result.documents, stopping=lambda: bool(processor.app.should_stop)):
        return None
    written_ms = time.time() * 1000.0
    if result.ids:
        keys = [record_id.encode() for record_id in result.ids]
        records = [messages[i] for i in result.indexes]
        partitions = [r.partition if r.key == key else None for r, key in zip(records, keys, strict=True)]
        count = await publisher.partition_count(topics.records)
        pending.append(await publisher.send_all(topics.predictions, keys, result.documents, partitions, count))
    _observe(m, result, written_ms)
    if result.counts:
        window.add(result.counts)
        m.drift.changed(window)
    m.batch_seconds.observe(time.perf_counter() - started)
    return asyncio.gather(*pending)


async def _dead_letter(processor: Processor, message: Incoming, rejection: Any) -> Any:
    headers = dead_letter_headers(DeadLetter(rejection.reason.value, rejection.error, message.topic,
                                             message.partition, message.offset))  # fmt: skip
    key = rejection.record_id.encode() if rejection.record_id else message.key
    processor.metrics.dead_letters.labels(reason=rejection.reason.value).inc()
    logger.debug("dead letter partition=%s offset=%s reason=%s", message.partition, message.offset,
                 rejection.reason.value)  # fmt: skip
    return await processor.publisher.send(processor.topics.dead_letter, key, message.value, headers)


def _observe(m: ProcessorMetrics, result: StepResult, written_ms: float) -> None:
    n = len(result.ids)
    m.records.labels(outcome="scored").inc(n)
    m.records.labels(outcome="dead_letter").inc(len(result.rejections))
    m.batch_size.observe(n + len(result.rejections))
    if n:
        m.inference_seconds.observe(result.inference_seconds)
        m.end_to_end_latency.observe_many((written_ms - result.event_time_ms) / 1000.0)
