"""The staging trial on the real stack (issue 22 item 1): a real worker scores every record with production under
production's key and topic, and with the staging version in the shadow (its own key and topic) until staging is
cleared; the trainer's staging loop reads the paired outcomes the workers' label join counted in Redis and promotes
staging (alias moved, staging cleared, announced) when it is right where the two disagree, or discards it when
production is."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from typing import TypeVar

import orjson
import pytest
import redis
from kafka import KafkaProducer
from prometheus_client import CollectorRegistry

from driftline.kafka_clients import client_options
from driftline.messages import decode_model_update, encode_label_event, shadow_key
from driftline.registry import PRODUCTION, STAGING, Registry
from driftline.settings import Settings
from driftline.sources import AgrawalSource
from harness.kafka_reading import messages_in, read_topic
from harness.waiting import wait_for
from tests.integration.pipeline import Pipeline
from trainer.app import _staging_trials
from trainer.metrics import TrainerMetrics
from trainer.release import register_candidate
from trainer.staging import read_pairs
from trainer.training import Candidate

T = TypeVar("T")
N = 1000  # records scored by both versions


@pytest.fixture(scope="module")
def weak_candidate() -> Candidate:
    """A model trained on few rows for one epoch: same contract as production's, but it disagrees on many records."""
    from trainer.training import TrainConfig, fit_candidate

    source = AgrawalSource(seed=11)
    return fit_candidate(source.frame(600), source.contract, TrainConfig(max_epochs=1, seed=11))


@pytest.fixture
def trial(pipeline: Pipeline, registry: Registry, weak_candidate: Candidate) -> Iterator[tuple[Pipeline, int, int]]:
    """The pipeline on the test's own registry, its production version and a staging version of the weak model."""
    production = registry.alias(PRODUCTION).version  # type: ignore[union-attr]
    staging = register_candidate(registry, weak_candidate, source_description="test: weak", promote=False)
    registry.stage(staging)
    pipeline.registry = registry
    pipeline.reconcile_seconds = 1.0  # workers find the staging alias (and its removal) on their reconcile timer
    yield pipeline, production, staging


def shadows(p: Pipeline, ids: list[str]) -> list[dict[str, object] | None]:
    keys = [shadow_key(p.key_prefix, x) for x in ids]
    raw = p.redis.mget_nonatomic(keys) if isinstance(p.redis, redis.RedisCluster) else p.redis.mget(keys)
    return [orjson.loads(v) if v is not None else None for v in raw]


def score_in_both(p: Pipeline, seed: int) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """Stream N records (no labels) to a worker shadowing staging; production's and staging's predictions, by id."""
    worker = p.worker(0)
    worker.wait_serving()
    wait_for(lambda: "scoring it in the shadow from the next batch" in worker.log(tail=200_000), timeout=30,
             message="the worker loaded the staging version")  # fmt: skip
    source = AgrawalSource(seed=seed)
    p.produce(source, N, send_labels=False)
    ids = [r.record["id"] for r in source.take(N)]
    production = p.wait_all_scored(ids)
    wait_for(lambda: all(d is not None for d in shadows(p, ids)), timeout=60, message=f"{N} shadow predictions")
    return production, [d for d in shadows(p, ids) if d is not None]


def send_labels(p: Pipeline, labels: dict[str, object]) -> None:
    producer = KafkaProducer(**client_options(p.kafka))
    try:
        for record_id, label in labels.items():
            producer.send(p.topics.labels, key=record_id.encode(), value=encode_label_event(record_id, label, 0))
        producer.flush()
    finally:
        producer.close()


def test_workers_score_staging_in_the_shadow_until_it_is_cleared(trial: tuple[Pipeline, int, int]) -> None:
    p, production, staging = trial
    documents, shadowed = score_in_both(p, seed=401)
    ids = [str(d["id"]) for d in documents]
    assert {d["version"] for d in documents} == {production}
    assert {d["version"] for d in shadowed} == {staging}
    assert [d["id"] for d in shadowed] == ids
    assert sum(a["label"] != b["label"] for a, b in zip(documents, shadowed, strict=True)) > 0, "same model twice?"

    # On the topics too: production's predictions only on production's topic, staging's only on the shadow topic.
    on_topic = [orjson.loads(m.value) for m in read_topic(p.kafka, p.topics.predictions, expect=N)]
    in_shadow = [orjson.loads(m.value) for m in read_topic(p.kafka, p.topics.predictions_shadow, expect=N)]
    assert {d["version"] for d in on_topic} == {production} and sorted(d["id"] for d in on_topic) == sorted(ids)
    assert {d["version"] for d in in_shadow} == {staging} and sorted(d["id"] for d in in_shadow) == sorted(ids)

    # Staging cleared: the worker drops the shadow at its next reconcile; new records get production's only.
    assert p.registry.clear_alias(STAGING)
    worker = p.workers[0]
    wait_for(lambda: "no staging version any more" in worker.log(tail=200_000), timeout=30,
             message="the worker dropped the staging version")  # fmt: skip
    later = AgrawalSource(seed=402)
    p.produce(later, N, send_labels=False)
    later_ids = [r.record["id"] for r in later.take(N)]
    assert {d["version"] for d in p.wait_all_scored(later_ids)} == {production}
    assert shadows(p, later_ids) == [None] * N
    assert messages_in(p.kafka, p.topics.predictions_shadow) == N
    assert messages_in(p.kafka, p.topics.predictions) == 2 * N
    assert worker.alive()


def run_staging_trials(settings: Settings, registry: Registry, metrics: TrainerMetrics, during: Callable[[], T]) -> T:
    """The trainer's staging loop (as `trainer serve` runs it) while ``during`` runs in a thread."""

    async def main() -> T:
        task = asyncio.create_task(_staging_trials(settings, registry, metrics))
        try:
            return await asyncio.get_running_loop().run_in_executor(None, during)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return asyncio.run(main())


@pytest.mark.parametrize("right", ["staging", "production"])
def test_the_trainer_promotes_staging_when_it_is_right_where_they_disagree_else_discards_it(
    trial: tuple[Pipeline, int, int], settings: Settings, right: str
) -> None:
    p, production, staging = trial
    documents, shadowed = score_in_both(p, seed=403)
    disagree = sum(a["label"] != b["label"] for a, b in zip(documents, shadowed, strict=True))
    assert disagree >= 10, f"the versions disagree on {disagree} of {N} records; the trial needs more"
    # Every record's label is the prediction of the version that is right: it is right wherever the two disagree.
    labels = {str(d["id"]): d["label"] for d in (shadowed if right == "staging" else documents)}

    trainer_settings = settings.model_copy(update={
        "kafka": p.kafka,
        "redis": settings.redis.model_copy(update={"key_prefix": p.key_prefix}),
        "trainer": settings.trainer.model_copy(update={"staging_min_records": 10, "staging_check_seconds": 0.2}),
    })  # fmt: skip
    metrics = TrainerMetrics(CollectorRegistry())

    def label_and_wait() -> None:
        send_labels(p, labels)
        wait_for(lambda: p.registry.alias(STAGING) is None, timeout=60, message="the trainer judged the staging trial")

    run_staging_trials(trainer_settings, p.registry, metrics, label_and_wait)

    # The verdict came from the workers' paired counts; every labeled record ends up counted as a pair.
    def counted() -> bool:
        return read_pairs(trainer_settings.redis, p.registry.model, production, staging).total == N

    wait_for(counted, timeout=60, message=f"{N} paired outcomes in Redis")
    pairs = read_pairs(trainer_settings.redis, p.registry.model, production, staging)
    winner_only = pairs.staging_only if right == "staging" else pairs.production_only
    assert (pairs.both_right, pairs.both_wrong, winner_only, pairs.total - N) == (N - disagree, 0, disagree, 0)
    alias = p.registry.alias(PRODUCTION)
    assert alias is not None and p.registry.alias(STAGING) is None
    promoted = metrics.registry.get_sample_value("driftline_retrains_total", {"outcome": "promoted"}) or 0.0
    rejected = metrics.registry.get_sample_value("driftline_retrains_total", {"outcome": "rejected"}) or 0.0
    if right == "staging":
        assert alias.version == staging
        assert (promoted, rejected) == (1.0, 0.0)
        updates = [decode_model_update(m.value) for m in read_topic(p.kafka, p.topics.model_updates, expect=1)]
        assert [(u.model, u.version) for u in updates if u] == [(p.registry.model, staging)]
        # The worker follows: once it has loaded the promoted version, new records are scored by it alone.
        worker = p.workers[0]
        wait_for(lambda: f"model version={staging} fingerprint=" in worker.log(tail=200_000), timeout=30,
                 message=f"the worker loaded version {staging}")  # fmt: skip
        after = AgrawalSource(seed=404)
        p.produce(after, 200, send_labels=False)
        after_ids = [r.record["id"] for r in after.take(200)]
        assert {d["version"] for d in p.wait_all_scored(after_ids)} == {staging}
        assert shadows(p, after_ids) == [None] * 200
    else:
        assert alias.version == production
        assert (promoted, rejected) == (0.0, 1.0)
        assert messages_in(p.kafka, p.topics.model_updates) == 0
