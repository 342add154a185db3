"""The processor on the real stack: every record scored once (equal to offline scoring), dead letters with reasons,
kill -9 and Redis outages without loss, two workers (each pinned to a CPU) sharing the partitions."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections import Counter
from pathlib import Path

import numpy as np
import orjson
import redis

from driftline.affinity import cpu_for
from driftline.bundle import ModelBundle
from driftline.messages import decode_dead_letter
from driftline.records import Reason
from driftline.registry import Registry
from driftline.sources import AgrawalSource
from driftline.validation import Validator
from harness.kafka_reading import read_topic
from harness.processes import WorkerProcess, free_port
from harness.waiting import wait_for
from processors.partitioning import key_partition
from producers.bad_records import bad_corpus
from producers.kafka_sender import KafkaSender
from producers.producer import ProduceOptions, RecordProducer
from tests.integration.pipeline import Pipeline


def _ids(source: AgrawalSource, n: int) -> list[str]:
    return [r.record["id"] for r in source.take(n)]


def test_every_record_scored_once_and_equal_to_offline_scoring(pipeline: Pipeline, serving_registry: Registry) -> None:
    source = AgrawalSource(seed=101)
    n = 20_000
    spawned = time.time()
    worker = pipeline.worker()
    pipeline.produce(source, n)
    documents = pipeline.wait_all_scored(_ids(source, n))

    bundle = ModelBundle.load_production(serving_registry)
    batch, rejections = Validator(bundle.contract).validate_objects(r.record for r in source.take(n))
    assert not rejections
    offline = bundle.predict(batch.columns)
    streamed = np.array([d["score"] for d in documents])
    assert [d["id"] for d in documents] == batch.ids
    # The stream adds no skew: the features are preprocessed to the bit (tests/unit/test_preprocessing.py); the
    # scores may differ in the last float32 ulp, because the matrix kernels block differently by batch size.
    np.testing.assert_allclose(streamed, offline.scores, rtol=0, atol=1e-6)
    assert [d["label"] for d in documents] == offline.labels
    assert {d["version"] for d in documents} == {bundle.version}
    assert {d["fingerprint"] for d in documents} == {bundle.fingerprint}
    # The predictions topic carries the same documents, each once, in the partition its key hashes to.
    published = read_topic(pipeline.kafka, pipeline.topics.predictions, expect=n, timeout=60)
    partitions = pipeline.kafka.predictions_partitions
    assert sorted(m.key.decode() for m in published) == sorted(batch.ids)
    assert all(m.partition == key_partition(m.key, partitions) for m in published)
    by_id = {d["id"]: d for d in documents}
    assert all(orjson.loads(m.value) == by_id[m.key.decode()] for m in published)
    wait_for(lambda: worker.metric("driftline_records_total", outcome="scored") >= n, timeout=30,
             message="records_total{scored} on /metrics")  # fmt: skip
    samples = worker.metrics()  # one scrape: every scored record's latency observed once, each under 30 s
    latencies = samples[("driftline_end_to_end_latency_seconds_count", ())]
    assert latencies == samples[("driftline_records_total", (("outcome", "scored"),))]
    assert samples[("driftline_end_to_end_latency_seconds_bucket", (("le", "30.0"),))] == latencies
    assert 0 < samples[("driftline_end_to_end_latency_seconds_sum", ())] < 30 * latencies
    assert worker.metric("driftline_model_info", model=bundle.model_name, version=str(bundle.version),
                         fingerprint=bundle.fingerprint) == 1  # fmt: skip
    # the process metrics (issue 23): this worker's own memory, CPU, descriptors and start
    assert samples[("process_resident_memory_bytes", ())] > 50 * 1024 * 1024  # a worker holding a model and faust
    assert samples[("process_cpu_seconds_total", ())] > 0
    assert samples[("process_open_fds", ())] >= 3
    assert spawned - 2 < samples[("process_start_time_seconds", ())] < time.time()  # /proc's boot time is whole s
    # labels were sent at once: every one is joined with its prediction (some after the grace wait)
    wait_for(lambda: worker.metric("driftline_labels_total", outcome="matched") >= n, timeout=60,
             message="every label matched")  # fmt: skip
    accuracy = worker.metric("driftline_labeled_accuracy", version=str(bundle.version))
    assert 0.7 < accuracy <= 1.0


def test_bad_records_go_to_the_dead_letter_topic_with_their_reason(pipeline: Pipeline) -> None:
    source = AgrawalSource(seed=102)
    corpus = bad_corpus(source.contract, tag="dl")
    good = source.take(300)
    failures: list[str] = []
    producer = KafkaSender(pipeline.kafka, on_error=lambda message, records: failures.append(message))
    for i, item in enumerate(good):
        # Every third record keyed by something other than its id, or not keyed: its prediction is still placed by
        # the hash of its id, not by the partition the record happened to land in.
        key = item.record["id"].encode() if i % 3 == 0 else (None if i % 3 == 1 else b"other-%d" % i)
        producer.send(pipeline.topics.records, key, orjson.dumps(item.record))
        if i % 20 == 0 and i // 20 < len(corpus):
            key, payload, _ = corpus[i // 20]
            producer.send(pipeline.topics.records, key, payload)
    producer.flush(timeout=30)  # every record delivered, or counted in failures
    producer.close()
    assert not failures
    worker = pipeline.worker()
    pipeline.wait_all_scored([g.record["id"] for g in good])

    letters = read_topic(pipeline.kafka, pipeline.topics.dead_letter, expect=len(corpus), timeout=60)
    expected = {payload: reason for _, payload, reason in corpus}
    seen = {}
    for message in letters:
        letter = decode_dead_letter(message.headers)
        assert message.value in expected, message.value[:80]
        seen[message.value] = letter.reason
        assert letter.topic == pipeline.topics.records
        assert letter.offset >= 0 and letter.partition >= 0
        assert letter.error
    assert seen == {payload: reason.value for payload, reason in expected.items()}
    by_reason = Counter(reason.value for reason in expected.values())
    for reason in Reason:
        assert worker.metric("driftline_dead_letters_total", reason=reason.value) == by_reason.get(reason.value, 0)
    assert worker.metric("driftline_records_total", outcome="dead_letter") == len(corpus)
    published = read_topic(pipeline.kafka, pipeline.topics.predictions, expect=len(good), timeout=60)
    assert sorted(m.key for m in published) == sorted(g.record["id"].encode() for g in good)
    assert all(m.partition == key_partition(m.key, pipeline.kafka.predictions_partitions) for m in published)


def test_kill_9_mid_stream_loses_nothing(pipeline: Pipeline) -> None:
    source = AgrawalSource(seed=103)
    n = 20_000
    ids = _ids(source, n)
    pipeline.produce(source, n)
    first = pipeline.worker()
    wait_for(lambda: first.metric("driftline_records_total", outcome="scored") >= 3000, timeout=120, interval=0.2,
             message="the first worker has scored part of the stream")  # fmt: skip
    first.kill()
    assert sum(d is not None for d in pipeline.stored(ids)) < n, "the worker finished before it was killed"
    pipeline.worker()
    documents = pipeline.wait_all_scored(ids)
    assert len({d["id"] for d in documents}) == n


def test_redis_outage_mid_stream_loses_nothing(pipeline: Pipeline, tmp_path: Path) -> None:
    port = free_port()
    data = tmp_path / "redis"
    data.mkdir()
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data), "--save", "",
               "--appendonly", "yes", "--appendfsync", "always"]  # fmt: skip

    def start() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: _pings(port), timeout=20, message="test redis up")
        return proc

    server = start()
    own = redis.Redis(port=port)
    pipeline.redis, pipeline.redis_url = own, f"redis://127.0.0.1:{port}/0"
    try:
        source = AgrawalSource(seed=104)
        n = 20_000
        ids = _ids(source, n)
        worker = pipeline.worker()
        worker.wait_serving()
        pipeline.produce(source, 5000)
        wait_for(lambda: sum(d is not None for d in pipeline.stored(ids[:5000])) == 5000, timeout=120,
                 message="first 5,000 written")  # fmt: skip
        server.terminate()
        server.wait(timeout=30)
        producer = RecordProducer(pipeline.kafka)
        producer.run(source, ProduceOptions(count=n))  # all 20,000 again: the first 5,000 re-scored, same ids
        producer.close()
        # Redis stays down for a few seconds: six failed attempts take ~3 s of exponential backoff.
        wait_for(lambda: worker.metric("driftline_redis_retries_total") >= 6, timeout=60,
                 message="the worker retrying Redis")  # fmt: skip
        assert worker.alive()
        server = start()
        pipeline.wait_all_scored(ids)
        assert worker.alive()

        # Stopped while Redis is down: the worker leaves cleanly without committing what it could not write (whether
        # the stop finds it between two attempts or waiting before the next), and the next worker scores it.
        server.terminate()
        server.wait(timeout=30)
        retries = worker.metric("driftline_redis_retries_total")
        later = AgrawalSource(seed=105)
        later_ids = _ids(later, 3000)
        pipeline.produce(later, 3000)
        wait_for(lambda: worker.metric("driftline_redis_retries_total") >= retries + 3, timeout=60,
                 message="the worker retrying Redis again")  # fmt: skip
        assert worker.stop(timeout=30) == 0, worker.log()
        server = start()
        pipeline.worker(1).wait_serving()
        pipeline.wait_all_scored(later_ids)
    finally:
        server.terminate()
        server.wait(timeout=30)
        own.close()


def _pings(port: int) -> bool:
    try:
        return bool(redis.Redis(port=port, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def test_two_workers_share_the_partitions(pipeline: Pipeline) -> None:
    source = AgrawalSource(seed=105)
    n = 20_000
    workers = [pipeline.worker(0, pin_cpu=True), pipeline.worker(1, pin_cpu=True)]
    for w in workers:
        w.wait_serving()
    for w in workers:  # every thread, TensorFlow's and the Kafka clients' included, on the worker's own CPU
        assert w.process is not None
        assert _thread_cpus(w.process.pid) == {cpu_for(w.index)}, f"worker {w.index}: {_thread_cpus(w.process.pid)}"
    wait_for(lambda: [_assigned(w) for w in workers] in ([3.0, 3.0],), timeout=90, interval=0.5,
             message="the 6 partitions split 3 and 3")  # fmt: skip
    pipeline.produce(source, n)
    pipeline.wait_all_scored(_ids(source, n))
    scored = [w.metric("driftline_records_total", outcome="scored") for w in workers]
    assert all(s > 0 for s in scored), f"one worker scored nothing: {scored}"
    assert sum(scored) >= n


def _thread_cpus(pid: int) -> set[int]:
    """The union of the CPUs each of the process's threads may run on."""
    cpus: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(ProcessLookupError):  # a thread that ended meanwhile
            cpus |= os.sched_getaffinity(int(task.name))
    return cpus


def _assigned(worker: WorkerProcess) -> float:
    return worker.metric("driftline_assigned_partitions", topic=worker.env["DRIFTLINE_KAFKA__TOPIC_PREFIX"] + "records")
