"""The retrain job on real Kafka: recent records joined with their labels, the gate on the newest holdout."""

from __future__ import annotations

import time

import orjson

from driftline.registry import Registry
from driftline.settings import Settings, TrainerSettings
from driftline.sources import AgrawalSource
from harness.kafka_reading import read_topic
from tests.integration.pipeline import Pipeline
from trainer.app import build_retrain
from trainer.recent_data import recent_labeled
from trainer.request import RetrainRequest


def _settings(settings: Settings, pipeline: Pipeline, registry: Registry, margin: float) -> Settings:
    trainer = TrainerSettings(**{**settings.trainer.model_dump(), "promote_margin": margin, "retrain_window": 12_000,
                                 "max_epochs": 15})  # fmt: skip
    return settings.model_copy(update={
        "kafka": pipeline.kafka,
        "registry": settings.registry.model_copy(update={"root": registry.root}),
        "trainer": trainer,
    })  # fmt: skip


def test_concept_drift_is_learned_and_the_challenger_promoted_and_announced(
    pipeline: Pipeline, registry: Registry, settings: Settings
) -> None:
    champion = registry.alias("production").version  # type: ignore[union-attr]
    # The world changed: labels now follow Agrawal function 2 instead of function 1.
    pipeline.produce(AgrawalSource(seed=301, function=2), 12_000)
    retrain = build_retrain(_settings(settings, pipeline, registry, 0.005), registry)
    result = retrain(RetrainRequest("test: concept drift"))

    assert result.outcome == "promoted", result
    assert result.challenger_holdout["accuracy"] > result.champion_holdout["accuracy"] + 0.05
    assert result.rows == 12_000
    assert registry.alias("production").version == result.new_version != champion  # type: ignore[union-attr]
    update = orjson.loads(read_topic(pipeline.kafka, pipeline.topics.model_updates, expect=1)[-1].value)
    assert update["version"] == result.new_version and update["model"] == registry.model
    assert update["fingerprint"] == registry.manifest(result.new_version).fingerprint  # type: ignore[arg-type]
    lineage = registry.lineage(result.new_version)  # type: ignore[arg-type]
    assert lineage is not None and lineage.parent == champion, lineage
    assert lineage.trigger.kind == "retrain" and lineage.trigger.reason == "test: concept drift", lineage
    window = lineage.window  # the offsets read from both topics, and the event times of the rows kept
    assert window["kind"] == "kafka" and window["rows"] == 12_000 and window["cap"] == 12_000, window
    assert set(window["topics"]) == {pipeline.topics.records, pipeline.topics.labels}, window
    for partitions in window["topics"].values():
        assert partitions and all(0 <= first <= last for first, last in partitions.values()), window
    assert window["event_time"]["first"] < window["event_time"]["last"], window
    assert lineage.search["seed"] == settings.trainer.seed and lineage.search["trials"] >= 1, lineage.search


def test_a_stationary_stream_does_not_replace_the_champion(
    pipeline: Pipeline, registry: Registry, settings: Settings
) -> None:
    before = registry.alias("production").version  # type: ignore[union-attr]
    pipeline.produce(AgrawalSource(seed=302, function=1), 12_000)
    result = build_retrain(_settings(settings, pipeline, registry, 0.05), registry)(RetrainRequest("test: no drift"))
    assert result.outcome == "rejected", result
    assert registry.alias("production").version == before  # type: ignore[union-attr]
    assert len(registry.versions()) == 1  # only versions that passed the gate are registered


def test_too_little_labeled_data_is_skipped(pipeline: Pipeline, registry: Registry, settings: Settings) -> None:
    pipeline.produce(AgrawalSource(seed=303), 500)
    result = build_retrain(_settings(settings, pipeline, registry, 0.005), registry)(RetrainRequest("test: few labels"))
    assert result.outcome == "skipped" and "500" in result.reason


def test_from_a_change_point_only_the_records_after_it_are_learned_from(pipeline: Pipeline) -> None:
    contract = AgrawalSource().contract
    pipeline.produce(AgrawalSource(seed=304, function=1), 3_000)
    change_ms = time.time_ns() // 1_000_000  # the producer stamps each record with its send time
    pipeline.produce(AgrawalSource(seed=305, function=2), 2_000)
    after = recent_labeled(pipeline.kafka, contract, 12_000, since_ms=change_ms)
    assert len(after) == 2_000
    assert after["id"].str.startswith("agr-305-").all() and (after["event_time"] >= change_ms).all()
    capped = recent_labeled(pipeline.kafka, contract, 500, since_ms=change_ms)
    assert len(capped) == 500 and capped["id"].str.startswith("agr-305-").all()  # the newest, up to the cap
    assert len(recent_labeled(pipeline.kafka, contract, 12_000)) == 5_000  # no change point: the newest of all
