"""`driftline serve` as a client sees it: a real server process, a real HTTP client. One record and a list are
scored as the workers' scoring step scores them, pictures for the digits CNN too; concurrent requests share model
calls; every kind of bad input (a bad picture too) answers its 4xx and reason code; a promotion announced on Kafka
is served without a restart or a failed request."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import orjson
import pytest

from driftline.registry import Registry
from driftline.settings import KafkaSettings
from driftline.signing import SIGNATURE_FILE
from driftline.sources import AgrawalSource
from driftline.sources.digits import DigitsSource
from harness.processes import free_port, kafka_env, settings_env, spawn_processors, stop_process
from harness.scrape import scrape
from harness.waiting import eventually, wait_for
from processors.model_slot import load_step
from processors.serve_request import HttpRecord
from producers.bad_records import bad_corpus
from trainer.publish import publish_update

JSON = {"Content-Type": "application/json"}


class Server:
    """``python -m processors serve`` on a free port, with the test's own settings."""

    def __init__(self, kafka: KafkaSettings, registry: Registry, tmp: Path, **serve: object) -> None:
        self.port = free_port()
        self.log_path = tmp / "serve.log"
        env = kafka_env(kafka) | settings_env(
            kafka={"topic_prefix": kafka.topic_prefix},
            registry={"root": registry.root, "model_name": registry.model},
            stack={"data_dir": tmp / "stack"},  # no key pair there: versions are not signature-checked
            processor={"model_reconcile_seconds": 600},  # swaps must come from the model-updates broadcast
            serve={"port": self.port, **serve},
        )
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] = spawn_processors(["serve"], env, self.log_path)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def wait_healthy(self, timeout: float = 90) -> None:
        def healthy() -> bool:
            assert self.process.poll() is None, f"serve died:\n{self.log()}"
            return asyncio.run(self._status("/healthz")) == 200

        wait_for(healthy, timeout=timeout, interval=0.3, message="serve healthy (a model loaded)")

    async def _status(self, path: str) -> int | None:
        try:
            async with aiohttp.ClientSession() as session, session.get(self.url + path) as response:
                return response.status
        except aiohttp.ClientError:
            return None

    def metric(self, name: str, **labels: str) -> float:
        return scrape(self.port).get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def serve_factory(kafka_settings: KafkaSettings, registry: Registry, tmp_path: Path) -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def start(using: Registry | None = None, **serve: object) -> Server:
        server = Server(kafka_settings, using or registry, tmp_path, **serve)
        servers.append(server)
        server.wait_healthy()
        return server

    yield start
    for server in servers:
        assert stop_process(server.process, timeout=30) == 0, server.log()


def records(n: int, seed: int = 5) -> list[dict[str, object]]:
    return [dict(r.record) for r in AgrawalSource(seed=seed).take(n)]


async def post(session: aiohttp.ClientSession, url: str, body: bytes,
               headers: dict[str, str] = JSON) -> tuple[int, object]:  # fmt: skip
    async with session.post(url + "/v1/predict", data=body, headers=headers) as response:
        return response.status, orjson.loads(await response.read())


def expected_documents(registry: Registry, rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """What the workers' scoring step makes of the same records (scored_at aside)."""
    step = load_step(registry, registry.alias("production").version)  # type: ignore[union-attr]
    result = step([HttpRecord(orjson.dumps(r)) for r in rows])
    return [{k: v for k, v in orjson.loads(d).items() if k != "scored_at"} for d in result.documents]


def without_time(document: object) -> dict[str, object]:
    assert isinstance(document, dict)
    return {k: v for k, v in document.items() if k != "scored_at"}


def test_one_record_and_a_list_are_scored_as_the_workers_score_them(serve_factory: Callable[..., Server],
                                                                    registry: Registry) -> None:  # fmt: skip
    server = serve_factory()
    rows = records(5)
    expected = expected_documents(registry, rows)

    async def scenario() -> None:
        async with aiohttp.ClientSession() as session:
            status, one = await post(session, server.url, orjson.dumps(rows[0]))
            assert status == 200 and without_time(one) == expected[0]
            status, many = await post(session, server.url, orjson.dumps(rows))
            assert status == 200 and isinstance(many, dict)
            assert [without_time(d) for d in many["predictions"]] == expected
            assert (many["scored"], many["rejected"]) == (5, 0)

    asyncio.run(scenario())
    version = registry.alias("production").version  # type: ignore[union-attr]
    fingerprint = registry.manifest(version).fingerprint
    assert all(d["version"] == version and d["fingerprint"] == fingerprint for d in expected)
    assert server.metric("driftline_serve_requests_total", status="200") == 2
    assert server.metric("driftline_serve_records_total", outcome="scored") == 6


def test_pictures_are_scored_as_the_workers_score_them_and_bad_ones_refused(
    serve_factory: Callable[..., Server], digits_registry: Registry
) -> None:
    server = serve_factory(using=digits_registry)
    source = DigitsSource(seed=41)
    rows = [dict(item.record) for item in source.take(20)]
    expected = expected_documents(digits_registry, rows)
    assert all(isinstance(d["label"], str) and len(d["scores"]) == 10 for d in expected)  # type: ignore[arg-type]
    image_reasons = {"not_an_image", "corrupt_image", "wrong_channels", "image_too_large"}
    bad = [(payload, reason.value) for _, payload, reason in bad_corpus(source.contract, tag="serve")
           if reason.value in image_reasons]  # fmt: skip
    assert {reason for _, reason in bad} == image_reasons

    async def scenario() -> None:
        async with aiohttp.ClientSession() as session:
            status, many = await post(session, server.url, orjson.dumps(rows))
            assert status == 200 and isinstance(many, dict)
            assert [without_time(d) for d in many["predictions"]] == expected
            for payload, reason in bad:  # a decompression bomb and a cut PNG answer a reason, not a crash
                got_status, got = await post(session, server.url, payload)
                assert (got_status, got["reason"]) == (422, reason), (reason, got)  # type: ignore[index]
            status, mixed = await post(session, server.url, b"[" + orjson.dumps(rows[0]) + b"," + bad[0][0] + b"]")
            assert status == 200 and isinstance(mixed, dict) and (mixed["scored"], mixed["rejected"]) == (1, 1)

    asyncio.run(scenario())
    assert server.process.poll() is None, server.log()
    assert server.metric("driftline_serve_records_total", outcome="scored") == 21
    assert server.metric("driftline_serve_requests_total", status="500") == 0


def test_concurrent_requests_share_model_calls(serve_factory: Callable[..., Server], registry: Registry) -> None:
    server = serve_factory(max_wait_ms=50, max_batch_size=64)
    rows = records(64, seed=9)
    expected = expected_documents(registry, rows)

    async def scenario() -> list[object]:
        async with aiohttp.ClientSession() as session:
            answers = await asyncio.gather(*(post(session, server.url, orjson.dumps(r)) for r in rows))
        assert all(status == 200 for status, _ in answers)
        return [document for _, document in answers]

    documents = asyncio.run(scenario())
    assert [without_time(d) for d in documents] == expected  # each request got its own record's prediction
    calls = server.metric("driftline_serve_batch_size_count")
    assert server.metric("driftline_serve_batch_size_sum") == 64
    assert 1 <= calls < 64, f"64 concurrent requests took {calls} model calls: not batched"
    assert server.metric("driftline_serve_batch_size_bucket", le="1.0") < calls, "every model call held one record"


def test_bad_input_answers_4xx_with_its_reason(serve_factory: Callable[..., Server]) -> None:
    server = serve_factory(max_body_bytes=4096)
    good = records(1)[0]
    out_of_range = {**good, "id": "far", "age": -5}
    cases: list[tuple[bytes, dict[str, str], int, str]] = [
        (b'{"id": "x",', JSON, 400, "malformed_json"),
        (b"[{}, ", JSON, 400, "malformed_json"),
        (orjson.dumps(good), {"Content-Type": "text/plain"}, 415, "unsupported_media_type"),
        (b"[" + b" " * 5000 + b"]", JSON, 413, "too_large"),
        (b"5", JSON, 422, "not_an_object"),
        (orjson.dumps({k: v for k, v in good.items() if k != "id"}), JSON, 422, "missing_id"),
        (orjson.dumps(out_of_range), JSON, 422, "out_of_range"),
        (orjson.dumps({**good, "salary": "lots"}), JSON, 422, "wrong_type"),
        (orjson.dumps({**good, "salary": 1.5}).replace(b"1.5", b"NaN"), JSON, 422, "non_finite"),
        (orjson.dumps(good).replace(b"{", b'{"age": 3,', 1), JSON, 422, "duplicate_field"),
    ]

    async def scenario() -> None:
        async with aiohttp.ClientSession() as session:
            for body, headers, status, reason in cases:
                got_status, got = await post(session, server.url, body, headers)
                assert (got_status, got["reason"]) == (status, reason), (body[:60], got)  # type: ignore[index]
            # a list reports each rejected record in its place, and scores the rest
            status, answer = await post(session, server.url, orjson.dumps([good, out_of_range, 7]))
            assert status == 200 and isinstance(answer, dict)
            first, second, third = answer["predictions"]
            assert first["id"] == good["id"] and "score" in first
            assert (second["id"], second["reason"]) == ("far", "out_of_range") and "age" in second["error"]
            assert third["reason"] == "not_an_object" and (answer["scored"], answer["rejected"]) == (1, 2)

    asyncio.run(scenario())
    assert server.metric("driftline_serve_requests_total", status="500") == 0
    assert server.metric("driftline_serve_rejections_total", reason="out_of_range") == 2


def new_version(registry: Registry, note: str) -> int:
    """Register the production version's files again (training.json annotated so the fingerprint differs)."""
    source = registry.path(registry.alias("production").version)  # type: ignore[union-attr]
    files: dict[str, Path | bytes] = {p.name: p for p in source.iterdir()
                                      if p.name not in ("manifest.json", SIGNATURE_FILE)}  # fmt: skip
    training = orjson.loads((source / "training.json").read_bytes())
    files["training.json"] = orjson.dumps({**training, "note": note})
    return registry.register(files)


def test_an_announced_promotion_is_served_without_a_restart_or_a_failed_request(
    serve_factory: Callable[..., Server], registry: Registry, kafka_settings: KafkaSettings
) -> None:
    server = serve_factory(max_wait_ms=5)
    before = registry.alias("production").version  # type: ignore[union-attr]
    rows = records(200, seed=13)
    wait_for(lambda: "listening for model updates" in server.log(), timeout=30, message="serve hears model updates")

    async def scenario() -> list[tuple[int, object]]:
        answers: list[tuple[int, object]] = []
        async with aiohttp.ClientSession() as session:

            async def keep_asking() -> None:
                i = 0
                while not answers or answers[-1][0] != 200 or answers[-1][1]["version"] == before:  # type: ignore[index]
                    answers.append(await post(session, server.url, orjson.dumps(rows[i % len(rows)])))
                    i += 1
                for r in rows[:20]:  # and a few more on the new version
                    answers.append(await post(session, server.url, orjson.dumps(r)))

            asking = asyncio.ensure_future(keep_asking())
            # requests are flowing on the old version (a failed asker fails here at once, not at the deadline)
            await eventually(lambda: asking.done() or len(answers) >= 20, timeout=30, message="20 answers")
            if asking.done():
                asking.result()
            version = new_version(registry, "served over HTTP")
            registry.promote(version)
            await asyncio.get_running_loop().run_in_executor(None, publish_update, kafka_settings, registry)
            await asyncio.wait_for(asking, timeout=30)
        return answers

    answers = asyncio.run(scenario())
    assert all(status == 200 for status, _ in answers), [a for a in answers if a[0] != 200][:3]
    versions = [document["version"] for _, document in answers]  # type: ignore[index]
    after = before + 1
    assert versions[0] == before and versions[-1] == after
    assert versions == sorted(versions), "a request was answered by the old version after the new one"
    assert server.metric("driftline_model_swaps_total", outcome="succeeded") == 1
    assert server.metric("driftline_model_info", model=registry.model, version=str(after),
                         fingerprint=registry.manifest(after).fingerprint) == 1  # fmt: skip
