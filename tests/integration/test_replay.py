"""Reproducible replay (issue 22 item 4) on the real stack: a worker scores a stream through a swap, records where
the swap began, and `driftline replay` scores the range again with the versions that served it: no mismatch. A
prediction written with another score is reported, and the command exits 1."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import defaultdict

import orjson
from kafka import KafkaProducer

from driftline.kafka_clients import client_options
from driftline.messages import decode_model_swap
from driftline.registry import Registry
from driftline.sources import AgrawalSource
from harness.kafka_reading import read_topic
from harness.waiting import wait_for
from tests.integration.pipeline import Pipeline
from tests.integration.test_hot_swap import new_version, serving_version
from trainer.publish import publish_update

N = 1500  # records before the swap, and as many after


def replay(p: Pipeline, *args: str) -> subprocess.CompletedProcess[str]:
    """`driftline replay` as a user runs it, with the pipeline's settings alone."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTLINE_")}
    return subprocess.run([sys.executable, "-m", "driftline.cli", "replay", *args], env={**clean, **p.env()},
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip


def produce_raw(p: Pipeline, values: list[bytes]) -> None:
    producer = KafkaProducer(**client_options(p.kafka))
    try:
        for value in values:
            producer.send(p.topics.records, value)
        producer.flush()
    finally:
        producer.close()


def test_replay_reproduces_every_prediction_across_a_swap_and_reports_a_tampered_one(
    pipeline: Pipeline, registry: Registry
) -> None:
    p = pipeline
    p.registry = registry
    p.reconcile_seconds = 600  # the swap comes from the model-updates broadcast
    worker = p.worker(0)
    worker.wait_serving()
    first = serving_version(p, 0)

    before, after = AgrawalSource(seed=301), AgrawalSource(seed=302)
    p.produce(before, N)
    produce_raw(p, [b"not json", b'{"id": "bad-1", "event_time": 1, "salary": "lots"}'])  # two dead letters
    p.wait_all_scored([r.record["id"] for r in before.take(N)])
    second = new_version(registry, "replay")
    registry.promote(second)
    publish_update(p.kafka, registry)
    # a staged version goes into service at the next batch: wait until it is staged, then stream the rest
    wait_for(lambda: f"model version={second} fingerprint=" in worker.log(tail=200_000), timeout=60,
             message=f"the worker loaded version {second}")  # fmt: skip
    p.produce(after, N)
    p.wait_all_scored([r.record["id"] for r in after.take(N)])
    assert serving_version(p, 0) == second

    # The worker recorded both its first model and the swap; the swap names, for each partition it held, the first
    # offset the new version scored there, as the predictions themselves tell.
    predictions = read_topic(p.kafka, p.topics.predictions, expect=2 * N)
    firsts: dict[int, int] = defaultdict(lambda: 1 << 62)
    for m in predictions:
        document = orjson.loads(m.value)
        if document["version"] == second:
            firsts[document["partition"]] = min(firsts[document["partition"]], document["offset"])
    swaps = [decode_model_swap(m.value) for m in read_topic(p.kafka, p.topics.model_swaps, expect=2)]
    assert [(s.previous, s.version) for s in swaps if s] == [(None, first), (first, second)]
    swap = swaps[1]
    assert swap is not None and swap.topic == p.topics.records and len(swap.positions) == 6
    for partition, offset in firsts.items():
        assert swap.positions[partition] == offset, (partition, swap.positions, dict(firsts))

    done = replay(p)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {int(line.split()[0]): line.split() for line in done.stdout.splitlines() if line.split()[:1] in
            ([str(first)], [str(second)])}  # fmt: skip
    assert rows[first][2:5] == [str(N), str(N), "0"] and rows[second][2:5] == [str(N), str(N), "0"], done.stdout
    assert f"records {2 * N + 2}, predictions {2 * N}, mismatched 0, missing predictions 0, dead letters 2" in (
        done.stdout
    )
    assert f"began version {second} (after {first})" in done.stdout

    # A prediction on the topic that the version does not give for its record: reported, exit 1.
    target = orjson.loads(predictions[0].value)
    forged = {**target, "score": target["score"] + (0.01 if target["score"] < 0.5 else -0.01)}
    producer = KafkaProducer(**client_options(p.kafka))
    producer.send(p.topics.predictions, orjson.dumps(forged), key=target["id"].encode())
    producer.flush()
    producer.close()
    partition, offset = target["partition"], target["offset"]
    only = replay(p, "--partitions", str(partition), "--from", str(offset), "--to", str(offset + 1))
    assert only.returncode == 1, only.stdout + only.stderr
    assert f"id={target['id']} partition={partition} offset={offset} version={target['version']}: recorded score" in (
        only.stdout
    )
    assert "records 1, predictions 2, mismatched 1, missing predictions 0, dead letters 0" in only.stdout
