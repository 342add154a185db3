"""The processor's composition root: ``create_app(settings, worker_index)`` builds one faust worker.

Per micro-batch (``stream.take_events``): validate, dead-letter the rejections, score the rest with the model
slot's current version, write Redis (one pipeline), send to the predictions topic, update drift and metrics.
faust acknowledges a batch when the agent body returns, so the body returns only once the batch is in Redis and
every send is acknowledged by Kafka; anything else ends the process without acknowledging (at-least-once).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faust
from aiohttp.web import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from driftline.kafka_admin import ensure_topics
from driftline.registry import Registry
from driftline.settings import Settings
from driftline.topics import Topics
from processors.faust_config import faust_options
from processors.labels import LabelJoin
from processors.metrics import ProcessorMetrics
from processors.model_slot import ModelSlot
from processors.redis_sink import RedisSink, redis_client
from processors.scoring_step import Incoming, StepResult

logger = logging.getLogger(__name__)

EXIT_UNEXPECTED = 70  # an unexpected error: the batch was not acknowledged; a supervisor restarts the worker
EXIT_UNWRITTEN = 75  # stopped while a batch could not be written; it will be consumed again


def hard_exit(code: int, why: str) -> None:
    """Leave at once, without acknowledging or committing the batch in hand (faust would ack it on the way out)."""
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
    app = faust.App(f"{settings.kafka.topic_prefix}processor", **options)
    records_topic = app.topic(topics.records, key_type=bytes, value_type=bytes)
    labels_topic = app.topic(topics.labels, key_type=bytes, value_type=bytes)
    processor = Processor(app, settings, worker_index, metrics, slot, sink, labels, topics)

    @app.task
    async def start_up() -> None:
        await asyncio.get_running_loop().run_in_executor(None, ensure_topics, settings.kafka)
        while not await slot.reconcile():
            await asyncio.sleep(2.0)

    @app.timer(interval=p.model_reconcile_seconds)
    async def reconcile() -> None:
        await slot.reconcile()

    @app.timer(interval=5.0)
    async def late_labels() -> None:
        await labels.handle([])

    @app.agent(records_topic)
    async def score(stream: faust.StreamT[bytes]) -> None:
        await slot.wait_ready()
        async for events in stream.take_events(p.batch_max, within=p.batch_within_seconds):
            done = False
            try:
                done = await process_batch(processor, [_incoming(e) for e in events])
            except asyncio.CancelledError:
                if not done:
                    hard_exit(EXIT_UNWRITTEN, "stopped in the middle of a batch")
                raise
            except Exception as exc:
                logger.exception("unexpected error in a batch of %d records", len(events))
                hard_exit(EXIT_UNEXPECTED, f"{exc.__class__.__name__}: {exc}")
            if not done:
                hard_exit(EXIT_UNWRITTEN, "stopping while Redis was unavailable")

    @app.agent(labels_topic)
    async def join_labels(stream: faust.StreamT[bytes]) -> None:
        async for events in stream.take_events(p.batch_max, within=0.5):
            try:
                await labels.handle([e.message.value for e in events])
            except Exception as exc:
                logger.exception("unexpected error joining %d labels", len(events))
                hard_exit(EXIT_UNEXPECTED, f"{exc.__class__.__name__}: {exc}")

    @app.on_partitions_assigned.connect
    async def on_assigned(sender: Any, assigned: Any = None, **kwargs: Any) -> None:
        current = app.consumer.assignment()
        for topic in (topics.records, topics.labels):
            metrics.assigned_partitions.labels(topic=topic).set(sum(1 for tp in current if tp.topic == topic))

    @app.page("/metrics")
    async def metrics_page(web: Any, request: Any) -> Response:
        return Response(body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    return processor


def _incoming(event: Any) -> Incoming:
    m = event.message
    return Incoming(key=m.key, value=m.value, topic=m.topic, partition=m.partition, offset=m.offset)


async def process_batch(processor: Processor, messages: list[Incoming]) -> bool:
    """Everything for one batch. True when it is safe to acknowledge (written and sent), False to not ack."""
    started = time.perf_counter()
    step, window = processor.slot.current()
    result = step(messages)
    m = processor.metrics
    producer = processor.app.producer
    pending = [await _dead_letter(processor, messages[r.index], r) for r in result.rejections]
    if not await processor.sink.write(result.ids, result.documents, stopping=lambda: bool(processor.app.should_stop)):
        return False
    written_ms = time.time() * 1000.0
    for record_id, document in zip(result.ids, result.documents, strict=True):
        sent = await producer.send(processor.topics.predictions, record_id.encode(), document, None, None, None)
        pending.append(sent)
    if pending:
        await asyncio.gather(*pending)
    _observe(m, result, written_ms)
    if result.counts:
        window.add(result.counts)
        _publish_drift(m, window)
    m.batch_seconds.observe(time.perf_counter() - started)
    return True


async def _dead_letter(processor: Processor, message: Incoming, rejection: Any) -> Any:
    headers = [
        ("dl.reason", rejection.reason.value.encode()),
        ("dl.error", rejection.error.encode(errors="replace")[:1000]),
        ("dl.topic", message.topic.encode()),
        ("dl.partition", str(message.partition).encode()),
        ("dl.offset", str(message.offset).encode()),
    ]
    key = rejection.record_id.encode() if rejection.record_id else message.key
    processor.metrics.dead_letters.labels(reason=rejection.reason.value).inc()
    logger.debug("dead letter partition=%s offset=%s reason=%s", message.partition, message.offset,
                 rejection.reason.value)  # fmt: skip
    return await processor.app.producer.send(processor.topics.dead_letter, key, message.value, None, None, headers)


def _observe(m: ProcessorMetrics, result: StepResult, written_ms: float) -> None:
    n = len(result.ids)
    m.records.labels(outcome="scored").inc(n)
    m.records.labels(outcome="dead_letter").inc(len(result.rejections))
    m.batch_size.observe(n + len(result.rejections))
    if n:
        m.inference_seconds.observe(result.inference_seconds)
        for latency in ((written_ms - result.event_time_ms) / 1000.0).tolist():
            m.end_to_end_latency.observe(latency)


def _publish_drift(m: ProcessorMetrics, window: Any) -> None:
    snapshot = window.snapshot()
    m.drift_window_records.set(window.records)
    if snapshot is None:
        return
    for name, value in snapshot.feature_psi.items():
        m.feature_drift_psi.labels(feature=name).set(value)
    for name, value in snapshot.missing_ratio.items():
        m.feature_missing_ratio.labels(feature=name).set(value)
    for name, value in snapshot.unknown_ratio.items():
        m.feature_unknown_ratio.labels(feature=name).set(value)
    m.prediction_drift_psi.set(snapshot.prediction_psi)
