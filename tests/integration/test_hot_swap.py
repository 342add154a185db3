"""Hot swap in every worker (DESIGN section 7): announced versions are picked up within seconds, without losing a
record; versions never go backwards within a partition; a tampered version, or one whose flatbuffer does not give
its golden records' outputs, is refused by every worker, and so, once workers hold the trainer's public key, is a
version that is unsigned or signed by another key."""

from __future__ import annotations

import threading
from collections import defaultdict
from pathlib import Path

import orjson
import pytest

from driftline.golden import GOLDEN_FILE, Golden
from driftline.registry import Registry
from driftline.signing import SIGNATURE_FILE, create_keys, load_signer
from driftline.sources import AgrawalSource
from harness.kafka_reading import read_topic
from harness.processes import WorkerProcess, free_port, settings_env
from harness.waiting import wait_for
from producers.producer import ProduceOptions, RecordProducer
from tests.integration.pipeline import Pipeline
from trainer.publish import publish_update


@pytest.fixture
def swap_pipeline(pipeline: Pipeline, registry: Registry) -> Pipeline:
    pipeline.registry = registry
    pipeline.reconcile_seconds = 600  # swaps must come from the model-updates broadcast, not the periodic check
    return pipeline


def new_version(registry: Registry, note: str, *, change: dict[str, bytes] | None = None) -> int:
    """Register the production version's files again (training.json annotated so the fingerprint differs)."""
    source = registry.path(registry.alias("production").version)  # type: ignore[union-attr]
    files: dict[str, Path | bytes] = {p.name: p for p in source.iterdir() if p.name not in ("manifest.json",
                                                                                             SIGNATURE_FILE)}
    training = orjson.loads((source / "training.json").read_bytes())
    files["training.json"] = orjson.dumps({**training, "note": note})
    files.update(change or {})
    return registry.register(files)


def serving_version(pipeline: Pipeline, worker_index: int) -> int | None:
    return pipeline.workers[worker_index].serving_version()


def test_ten_swaps_under_a_steady_stream_lose_nothing(swap_pipeline: Pipeline, registry: Registry) -> None:
    p = swap_pipeline
    workers = [p.worker(0), p.worker(1)]
    for w in workers:
        w.wait_serving()
    source = AgrawalSource(seed=201)
    # 40 s of stream: ten swaps must all come while records still arrive (a staged model goes live at the next
    # batch; each load verifies the hashes, checks the golden records and warms the model up).
    n = 80_000
    producer = RecordProducer(p.kafka)
    stream = threading.Thread(target=producer.run, args=(source, ProduceOptions(count=n, rate=2000)), daemon=True)
    stream.start()
    versions = []
    for i in range(10):
        version = new_version(registry, f"swap {i}")
        registry.promote(version)
        publish_update(p.kafka, registry)
        wait_for(lambda v=version: all(serving_version(p, k) == v for k in range(2)), timeout=10, interval=0.2,
                 message=f"both workers serving version {version} within 10 s")  # fmt: skip
        versions.append(version)
    stream.join(timeout=120)
    producer.close()
    assert not stream.is_alive()

    ids = [r.record["id"] for r in source.take(n)]
    documents = p.wait_all_scored(ids)
    assert len(documents) == n
    assert all(w.alive() for w in workers), "a worker died during the swaps"
    for w in workers:
        assert w.metric("driftline_model_swaps_total", outcome="failed") == 0
    assert sum(w.metric("driftline_model_swaps_total", outcome="succeeded") for w in workers) == 20

    # Within a partition, the versions that scored the records never go backwards.
    predictions = read_topic(p.kafka, p.topics.predictions, expect=n, timeout=60)
    by_partition: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for m in predictions:
        by_partition[m.partition].append((m.offset, orjson.loads(m.value)["version"]))
    for partition, seen in by_partition.items():
        order = [v for _, v in sorted(seen)]
        assert order == sorted(order), f"partition {partition}: versions went backwards"
    assert {d["version"] for d in documents} <= {1, *versions}


@pytest.mark.parametrize("fault", ["altered after release", "flatbuffer off its golden records"])
def test_a_version_that_fails_its_checks_is_refused_and_the_old_one_keeps_serving(
    swap_pipeline: Pipeline, registry: Registry, fault: str
) -> None:
    p = swap_pipeline
    workers = [p.worker(0), p.worker(1)]
    for w in workers:
        w.wait_serving()
    serving = serving_version(p, 0)

    if fault == "altered after release":  # a hash mismatch
        tampered = new_version(registry, "to be tampered")
        registry.promote(tampered)
        with (registry.path(tampered) / "model.keras").open("r+b") as f:
            f.seek(100)
            f.write(b"\x00\x01\x02\x03")
    else:  # hashes fine, but the flatbuffer does not give the Keras outputs its golden records hold
        golden = Golden.load(registry.path(serving) / GOLDEN_FILE)  # type: ignore[arg-type]
        off = Golden(golden.cases, golden.records, golden.expected + 0.01)
        tampered = new_version(registry, "golden outputs off", change={GOLDEN_FILE: orjson.dumps(off.to_dict())})
        registry.promote(tampered)
    publish_update(p.kafka, registry)
    wait_for(lambda: all(w.metric("driftline_model_swaps_total", outcome="failed") == 1 for w in workers), timeout=15,
             message="every worker refused the tampered version")  # fmt: skip
    assert [serving_version(p, k) for k in range(2)] == [serving, serving]
    why = "was altered: expected sha256" if fault == "altered after release" else "golden records: the served model"
    assert all(why in w.log(tail=200_000) for w in workers), workers[0].log()

    # Records keep being scored by the old version.
    source = AgrawalSource(seed=202)
    p.produce(source, 2000)
    documents = p.wait_all_scored([r.record["id"] for r in source.take(2000)])
    assert {d["version"] for d in documents} == {serving}
    assert all(w.alive() for w in workers)


def worker_trusting(p: Pipeline, index: int, public_key: Path) -> WorkerProcess:
    """A worker of the pipeline that refuses versions not signed by the pair of ``public_key``."""
    port = free_port()
    trusting = settings_env(registry={"public_key": public_key}, processor={"metrics_port_base": port - index})
    env = {**p.env(), **trusting}
    worker = WorkerProcess(env, index, p.tmp, port).start()
    p.workers.append(worker)
    return worker


@pytest.mark.parametrize("fault", ["unsigned", "signed by another key"])
def test_a_worker_with_the_trainers_public_key_refuses_versions_the_trainer_did_not_sign(
    swap_pipeline: Pipeline, registry: Registry, tmp_path: Path, fault: str
) -> None:
    p = swap_pipeline
    private, public = create_keys(tmp_path / "keys")
    signed = new_version(Registry(registry.root, registry.model, signer=load_signer(private)), "signed")
    registry.promote(signed)
    workers = [worker_trusting(p, 0, public), worker_trusting(p, 1, public)]
    for w in workers:
        w.wait_serving()
    assert [serving_version(p, k) for k in range(2)] == [signed, signed]

    if fault == "unsigned":  # anyone who can write to the registry: the hashes are right, there is no signature
        writer = registry
    else:  # signed, but with a key the workers do not trust
        writer = Registry(registry.root, registry.model, signer=load_signer(create_keys(tmp_path / "other")[0]))
    refused = new_version(writer, fault)
    registry.promote(refused)  # the test's registry holds no key: only the workers check
    publish_update(p.kafka, registry)
    wait_for(lambda: all(w.metric("driftline_model_swaps_total", outcome="failed") == 1 for w in workers), timeout=15,
             message=f"every worker refused the {fault} version")  # fmt: skip
    assert [serving_version(p, k) for k in range(2)] == [signed, signed]
    why = f"version {refused}: " + ("unsigned (no manifest.sig)" if fault == "unsigned" else "signed by another key")
    assert all(why in w.log(tail=200_000) for w in workers), workers[0].log()

    source = AgrawalSource(seed=203)
    p.produce(source, 1000)
    documents = p.wait_all_scored([r.record["id"] for r in source.take(1000)])
    assert {d["version"] for d in documents} == {signed}
