"""``driftline serve``: HTTP scoring on the workers' model slot. ``create_serve_app(settings)`` is its composition root.

``POST /v1/predict`` takes one record or an array of records and answers the prediction documents the workers
write to Redis (model, version, fingerprint), in request order. Concurrent requests are batched together
(processors/serve_batcher.py): one model call per batch, in one scoring thread, so the next batch fills while one
runs. Records go through the same ``ScoringStep`` (validation, persisted preprocessing, LiteRT model) as on the
stream, held by the same ``ModelSlot``, which follows the production alias as a worker does: on start, on every
announcement on the model-updates topic, and every ``processor.model_reconcile_seconds``.

Status codes: 200 scored (an array reports each rejected record in its place); 400 a body that is not JSON
(``malformed_json``); 413 a body over ``serve.max_body_bytes`` (``too_large``); 415 not ``application/json``;
422 a lone record that breaks the contract (its reason code); 503 no model loaded yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import cast

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from driftline.entrypoint import until_stopped
from driftline.errors import ConfigError
from driftline.kafka_admin import ensure_topics
from driftline.kafka_clients import client_options
from driftline.messages import decode_model_update
from driftline.records import Reason, Rejection
from driftline.registry import Registry
from driftline.settings import Settings
from driftline.topics import Topics
from processors.collector import collect_less_often
from processors.model_slot import Loader, ModelSlot, load_step
from processors.scoring_step import Incoming
from processors.serve_batcher import Batcher
from processors.serve_metrics import ServeMetrics
from processors.serve_request import BodyError, HttpRecord, Outcome, list_body, rejection_json, split_body, status_of

logger = logging.getLogger(__name__)

JSON = "application/json"


def _error(status: int, reason: str, message: str) -> web.Response:
    return web.json_response({"reason": reason, "error": message}, status=status)


class Scorer:
    """Scores a batch of records with the model serving now, in one call on the scoring thread."""

    def __init__(self, slot: ModelSlot, metrics: ServeMetrics) -> None:
        self.slot = slot
        self.metrics = metrics
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scoring")

    async def __call__(self, records: list[HttpRecord]) -> list[Outcome]:
        self.slot.swap_staged()  # between two batches, as a worker does
        step = self.slot.step
        messages = cast(list[Incoming], records)
        result = await asyncio.get_running_loop().run_in_executor(self._thread, step, messages)
        outcomes: list[Outcome | None] = [None] * len(records)
        for index, document in zip(result.indexes, result.documents, strict=True):
            outcomes[index] = document
        for rejection in result.rejections:
            outcomes[rejection.index] = rejection
            self.metrics.rejections.labels(reason=rejection.reason.value).inc()
        self.metrics.records.labels(outcome="scored").inc(len(result.documents))
        self.metrics.records.labels(outcome="rejected").inc(len(result.rejections))
        return cast(list[Outcome], outcomes)

    def close(self) -> None:
        self._thread.shutdown(wait=False, cancel_futures=True)


def create_serve_app(settings: Settings, *, loader: Loader = load_step) -> web.Application:
    """The HTTP scoring server: its model slot, batcher, model-update listener and routes. ``loader`` builds a
    version's scoring step (the benchmark's baseline swaps in the Keras model's own ``predict``)."""
    s = settings.serve
    metrics = ServeMetrics(CollectorRegistry(auto_describe=True))
    registry = Registry.from_settings(settings, sign=False)  # verifies signatures if a public key is set
    slot = ModelSlot(registry, metrics, loader=loader)
    scorer = Scorer(slot, metrics)
    batcher: Batcher[HttpRecord, Outcome] = Batcher(
        scorer, max_batch_size=s.max_batch_size, max_wait_seconds=s.max_wait_ms / 1000.0,
        on_batch=metrics.batch_size.observe,
    )  # fmt: skip
    app = web.Application(client_max_size=s.max_body_bytes)

    async def predict(request: web.Request) -> web.Response:
        started = time.perf_counter()
        try:
            response = await _predict(request)
        except Exception:
            logger.exception("scoring request failed")
            response = _error(500, "internal", "the server failed to score the request; see its log")
        metrics.requests.labels(status=str(response.status)).inc()
        metrics.request_seconds.observe(time.perf_counter() - started)
        return response

    async def _predict(request: web.Request) -> web.Response:
        if request.content_type != JSON:
            return _error(415, "unsupported_media_type", f"expected Content-Type {JSON}, found "
                          f"{request.headers.get('Content-Type', 'none')!r}")  # fmt: skip
        too_large = f"the body is over {s.max_body_bytes} bytes (serve.max_body_bytes)"
        if request.content_length is not None and request.content_length > s.max_body_bytes:
            return _error(413, Reason.TOO_LARGE.value, too_large)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _error(413, Reason.TOO_LARGE.value, too_large)
        try:
            many, raws = split_body(body)
        except BodyError as exc:
            return _error(400, exc.reason.value, str(exc))
        if slot.version is None:
            return _error(503, "no_model", f"no model of {registry.model!r} loaded yet")
        outcomes = await batcher.submit([HttpRecord(raw) for raw in raws])
        if many:
            return web.Response(body=list_body(outcomes), content_type=JSON)
        outcome = outcomes[0]
        if isinstance(outcome, Rejection):
            return web.Response(body=rejection_json(outcome), status=status_of(outcome), content_type=JSON)
        return web.Response(body=outcome, content_type=JSON)

    async def healthz(request: web.Request) -> web.Response:
        if slot.version is None:
            return _error(503, "no_model", f"no model of {registry.model!r} loaded yet")
        bundle = slot.step.bundle
        return web.json_response({"model": bundle.model_name, "version": bundle.version,
                                  "fingerprint": bundle.fingerprint})  # fmt: skip

    async def metrics_page(request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def follow_production() -> None:
        """Reconcile against the production alias now and every ``model_reconcile_seconds`` (sooner until one loads)."""
        while True:
            if await slot.reconcile():
                slot.swap_staged()  # no batch in flight holds the slot: a running one keeps its own step
            await asyncio.sleep(settings.processor.model_reconcile_seconds if slot.version is not None else 2.0)

    async def listen_for_updates() -> None:
        """Every announcement on the model-updates topic (no consumer group: every server hears all of them)."""
        from aiokafka import AIOKafkaConsumer

        topic = Topics(settings.kafka.topic_prefix).model_updates
        while True:
            consumer = AIOKafkaConsumer(topic, group_id=None, enable_auto_commit=False, auto_offset_reset="latest",
                                        client_id=f"driftline-serve-{socket.gethostname()}",
                                        **client_options(settings.kafka))  # fmt: skip
            try:  # the topic as the workers make it (compacted, one partition), not as the broker would auto-create it
                await asyncio.get_running_loop().run_in_executor(None, ensure_topics, settings.kafka)
                await consumer.start()
                logger.info("listening for model updates on %s", topic)
                async for message in consumer:
                    update = decode_model_update(message.value)
                    if update is not None and update.model == registry.model:
                        logger.info("model update heard: version=%s; following the production alias", update.version)
                        if await slot.reconcile():
                            slot.swap_staged()
            except Exception as exc:  # Kafka away: the periodic reconcile still follows the registry
                logger.warning("model updates unavailable (%s: %s); retrying in %.0f s", exc.__class__.__name__, exc,
                               settings.processor.model_reconcile_seconds)  # fmt: skip
            finally:
                await consumer.stop()
            await asyncio.sleep(settings.processor.model_reconcile_seconds)

    async def background(app: web.Application) -> AsyncIterator[None]:
        batcher.start()
        loop = asyncio.get_running_loop()
        tasks = [loop.create_task(follow_production()), loop.create_task(listen_for_updates())]
        yield
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await batcher.close()
        scorer.close()

    app.cleanup_ctx.append(background)
    app.router.add_post("/v1/predict", predict)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_page)
    return app


async def _serve(settings: Settings, loader: Loader) -> None:
    runner = web.AppRunner(create_serve_app(settings, loader=loader), access_log=None)
    await runner.setup()
    host, port = settings.serve.host, settings.serve.port
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        raise ConfigError(f"cannot listen on {host}:{port} (serve.host, serve.port): {exc.strerror or exc}") from None
    logger.info("serving %s on http://%s:%d (POST /v1/predict, /healthz, /metrics) max_batch_size=%d max_wait_ms=%g",
                settings.registry.model_name, host, port, settings.serve.max_batch_size,
                settings.serve.max_wait_ms)  # fmt: skip
    try:
        await until_stopped()
    finally:
        await runner.cleanup()


def run_serve(settings: Settings, *, loader: Loader = load_step) -> None:
    """Serve until SIGTERM/SIGINT."""
    collect_less_often()
    asyncio.run(_serve(settings, loader))
