"""The trainer's composition root: the retrain job wired to Kafka, the registry and the update topic."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry

from driftline.contract import Contract
from driftline.entrypoint import until_stopped
from driftline.errors import ConfigError, DriftlineError
from driftline.registry import Registry
from driftline.registry.lineage import Lineage
from driftline.settings import DEFAULT_WEBHOOK_TOKEN, Settings, TrainerSettings
from driftline.topics import ProcessorGroups, Topics
from trainer.consumer_lag import ConsumerLagExporter
from trainer.metrics import TrainerMetrics
from trainer.publish import publish_update
from trainer.recent_data import recent_labeled_window
from trainer.release import register_candidate
from trainer.request import RetrainRequest
from trainer.retrain import RetrainPolicy, RetrainResult, retrain
from trainer.search import SearchConfig
from trainer.service import RetrainScheduler, create_web_app
from trainer.staging import check_staging
from trainer.training import Candidate, TrainConfig

logger = logging.getLogger(__name__)


def registry_of(settings: Settings) -> Registry:
    """The registry, signing what the trainer releases when a signing key is configured (or the stack's exists)."""
    return Registry.from_settings(settings)


def webhook_token(trainer: TrainerSettings) -> str:
    """The token ``/alerts`` requires; ConfigError if it is the repository's default and the trainer is bound to
    anything but loopback (anyone who read the repository could then start retrains)."""
    token = trainer.token()
    if token == DEFAULT_WEBHOOK_TOKEN and not _loopback(trainer.host):
        raise ConfigError(
            f"trainer.host is {trainer.host}, not loopback, and the webhook token is the repository's default: set "
            "DRIFTLINE_TRAINER__WEBHOOK_TOKEN or DRIFTLINE_TRAINER__WEBHOOK_TOKEN_FILE (and the same in Alertmanager)"
        )
    return token


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def warm_up(registry: Registry) -> None:
    """Import TensorFlow and load the champion once, so that the first retrain does not pay for it."""
    from driftline.bundle import ModelBundle
    from driftline.modelio import require_keras

    started = time.perf_counter()
    require_keras()
    try:
        ModelBundle.load_production(registry)
    except DriftlineError as exc:
        logger.info("warm-up: no champion to load yet (%s)", exc)
    logger.info("warm-up done in %.1fs", time.perf_counter() - started)


def build_retrain(settings: Settings, registry: Registry) -> Callable[[RetrainRequest], RetrainResult]:
    t = settings.trainer
    policy = RetrainPolicy(
        margin=t.promote_margin,
        promote_now_gain=t.promote_now_gain,
        holdout_fraction=t.holdout_fraction,
        min_rows=t.retrain_min_rows,
        config=TrainConfig(seed=t.seed, max_epochs=t.max_epochs),
        search=SearchConfig(budget_seconds=t.search_budget_seconds, warm_start=t.warm_start),
        resamples=t.bootstrap_resamples,
    )

    def release(candidate: Candidate, why: str, promote: bool, lineage: Lineage) -> int:
        version = register_candidate(registry, candidate, source_description=f"retrain: {why}", promote=promote,
                                     lineage=lineage)  # fmt: skip
        if not promote:
            registry.stage(version)  # workers follow the staging alias on their reconcile timer
            return version
        message = publish_update(settings.kafka, registry)
        logger.info("announced %s", message)
        return version

    def run(request: RetrainRequest) -> RetrainResult:
        def load_recent(contract: Contract) -> Any:
            return recent_labeled_window(settings.kafka, contract, t.retrain_window, since_ms=request.since_ms)

        budget = t.first_search_budget_seconds if request.quick else t.search_budget_seconds
        search_config = policy.search.model_copy(update={"budget_seconds": budget})
        return retrain(registry, load_recent, replace(policy, search=search_config), release=release,
                       trigger=request.trigger)  # fmt: skip

    return run


async def _serve(settings: Settings) -> None:
    token = webhook_token(settings.trainer)
    registry = registry_of(settings)
    metrics = TrainerMetrics(CollectorRegistry(auto_describe=True))
    t = settings.trainer
    scheduler = RetrainScheduler(build_retrain(settings, registry), metrics, cooldown_seconds=t.cooldown_seconds,
                                 settle_rounds=t.settle_rounds, settle_seconds=t.settle_seconds)  # fmt: skip

    def production() -> dict[str, Any]:
        alias, staging = registry.alias("production"), registry.alias("staging")
        return {"model": registry.model, "production": alias.version if alias else None,
                "staging": staging.version if staging else None}

    scheduler.submit(functools.partial(warm_up, registry))
    groups = ProcessorGroups.of(settings.kafka.topic_prefix, settings.processor.group_id)
    lag = ConsumerLagExporter(settings.kafka, groups.topics(Topics(settings.kafka.topic_prefix)), metrics.registry,
                              interval_seconds=t.lag_interval_seconds)  # fmt: skip
    lag_task = asyncio.get_running_loop().create_task(lag.run())
    staging_task = asyncio.get_running_loop().create_task(_staging_trials(settings, registry, metrics))
    app = create_web_app(scheduler, token, production,
                         lookback_seconds=t.change_lookback_seconds)  # fmt: skip
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.trainer.host, settings.trainer.port)
    await site.start()
    logger.info("trainer serving on http://%s:%d (/alerts /status /metrics /healthz)", settings.trainer.host,
                settings.trainer.port)  # fmt: skip
    try:
        await until_stopped()
    finally:
        for task in (lag_task, staging_task):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await runner.cleanup()
        scheduler.close()


async def _staging_trials(settings: Settings, registry: Registry, metrics: TrainerMetrics) -> None:
    """Every ``staging_check_seconds``: judge the staging version's shadow trial; announce a promotion."""
    t, loop = settings.trainer, asyncio.get_running_loop()

    def check() -> None:
        verdict = check_staging(registry, settings.redis, min_records=t.staging_min_records,
                                max_records=t.staging_max_records, alpha=t.staging_alpha)  # fmt: skip
        if verdict is not None and verdict.action != "wait":
            metrics.retrains.labels(outcome="promoted" if verdict.action == "promote" else "rejected").inc()
            if verdict.action == "promote":
                logger.info("announced %s", publish_update(settings.kafka, registry))

    while True:
        await asyncio.sleep(t.staging_check_seconds)
        try:
            await loop.run_in_executor(None, check)
        except Exception:  # Redis or Kafka away: the trial waits, the service stays up
            logger.exception("judging the staging trial failed; trying again in %.0fs", t.staging_check_seconds)


def serve(settings: Settings) -> None:
    """Run the trainer service until SIGTERM/SIGINT."""
    asyncio.run(_serve(settings))
