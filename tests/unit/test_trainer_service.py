"""The retrain service's rules: strict payloads, bearer token, one retrain at a time, cooldown, dedup (the gate:
test_gate.py)."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pandas as pd
import pytest
from prometheus_client import CollectorRegistry

from harness.processes import free_port
from trainer.metrics import TrainerMetrics
from trainer.request import RetrainRequest
from trainer.retrain import RetrainResult, split_by_time
from trainer.service import RetrainScheduler, create_web_app
from trainer.webhook import PayloadError, parse_payload

TOKEN = "s3cret"


def payload(*alerts: dict[str, Any], status: str = "firing") -> dict[str, Any]:
    return {"version": "4", "status": status, "receiver": "trainer", "groupKey": "{}:{}", "alerts": list(alerts)}


def alert(name: str, starts: str = "2026-11-22T03:00:00Z", status: str = "firing", **labels: str) -> dict[str, Any]:
    return {"status": status, "labels": {"alertname": name, **labels}, "annotations": {}, "startsAt": starts,
            "fingerprint": f"{name}-{sorted(labels.items())}"}  # fmt: skip


def test_payload_parsing() -> None:
    alerts = parse_payload(payload(alert("DriftlineFeatureDrift", feature="salary"), alert("DriftlineProcessorDown")))
    assert [a.name for a in alerts] == ["DriftlineFeatureDrift", "DriftlineProcessorDown"]
    assert [a.asks_for_retrain for a in alerts] == [True, False]
    resolved = parse_payload(payload(alert("DriftlineFeatureDrift", status="resolved"), status="resolved"))
    assert not resolved[0].asks_for_retrain


@pytest.mark.parametrize(
    "body",
    [
        {},
        [],
        {**payload(alert("X")), "version": "3"},
        {**payload(alert("X")), "alerts": []},
        payload({"status": "firing", "labels": {}, "startsAt": "t"}),
        payload({"status": "weird", "labels": {"alertname": "X"}, "startsAt": "t"}),
    ],
)
def test_bad_payloads_are_refused(body: Any) -> None:
    with pytest.raises(PayloadError):
        parse_payload(body)


def test_split_by_time_keeps_the_newest_for_holdout() -> None:
    frame = pd.DataFrame({"t": range(10)})
    older, newest = split_by_time(frame, 0.2)
    assert older["t"].tolist() == list(range(8))
    assert newest["t"].tolist() == [8, 9]


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_scheduler_runs_one_at_a_time_with_cooldown_and_dedup() -> None:
    release = threading.Event()
    runs: list[str] = []

    def run(request: RetrainRequest) -> RetrainResult:
        runs.append(request.reason)
        release.wait(10)
        return RetrainResult("rejected", "fake", rows=10, seconds=0.1)

    clock = FakeClock()
    metrics = TrainerMetrics(CollectorRegistry())
    scheduler = RetrainScheduler(run, metrics, cooldown_seconds=60, clock=clock)

    async def scenario() -> None:
        assert scheduler.request("drift", ["a@1"]) == "started"
        assert scheduler.request("drift", ["a@1"]) == "duplicate"
        assert scheduler.request("other", ["b@1"]) == "running"
        release.set()
        result = await scheduler.wait_idle()
        assert result is not None and result.outcome == "rejected"
        assert scheduler.request("other", ["b@1"]) == "cooldown"
        clock.now = 61
        release.clear()
        assert scheduler.request("other", ["b@1"]) == "started"
        release.set()
        await scheduler.wait_idle()

    asyncio.run(scenario())
    scheduler.close()
    assert runs == ["drift", "other"]
    assert metrics.registry.get_sample_value("driftline_retrains_total", {"outcome": "rejected"}) == 2


def test_a_crashing_retrain_is_a_failed_outcome_not_a_dead_service() -> None:
    def run(request: RetrainRequest) -> RetrainResult:
        raise RuntimeError("boom")

    metrics = TrainerMetrics(CollectorRegistry())
    scheduler = RetrainScheduler(run, metrics, cooldown_seconds=0)

    async def scenario() -> RetrainResult | None:
        scheduler.request("x")
        return await scheduler.wait_idle()

    result = asyncio.run(scenario())
    scheduler.close()
    assert result is not None and result.outcome == "failed" and "boom" in result.reason
    assert metrics.registry.get_sample_value("driftline_retrains_total", {"outcome": "failed"}) == 1


def test_http_alerts_endpoint_checks_token_and_payload() -> None:
    started: list[RetrainRequest] = []

    def run(request: RetrainRequest) -> RetrainResult:
        started.append(request)
        return RetrainResult("skipped", "fake")

    metrics = TrainerMetrics(CollectorRegistry())
    scheduler = RetrainScheduler(run, metrics, cooldown_seconds=0)
    port = free_port()

    async def scenario() -> None:
        runner = aiohttp.web.AppRunner(create_web_app(scheduler, TOKEN, lambda: {"production": 1}))
        await runner.setup()
        await aiohttp.web.TCPSite(runner, "127.0.0.1", port).start()
        url = f"http://127.0.0.1:{port}"
        good = {"Authorization": f"Bearer {TOKEN}"}
        try:
            async with aiohttp.ClientSession() as http:
                body = payload(alert("DriftlineFeatureDrift", feature="salary"))
                async with http.post(f"{url}/alerts", json=body) as r:
                    assert r.status == 401
                async with http.post(f"{url}/alerts", json=body, headers={"Authorization": "Bearer nope"}) as r:
                    assert r.status == 401
                async with http.post(f"{url}/alerts", data=b"{not json", headers=good) as r:
                    assert r.status == 400
                async with http.post(f"{url}/alerts", json={"version": "4"}, headers=good) as r:
                    assert r.status == 400
                async with http.post(f"{url}/alerts", json=payload(alert("DriftlineProcessorDown")), headers=good) as r:
                    assert r.status == 200 and (await r.json())["retrain"] == "not requested"
                async with http.post(f"{url}/alerts", json=body, headers=good) as r:
                    assert r.status == 202 and (await r.json())["retrain"] == "started"
                await scheduler.wait_idle()
                async with http.get(f"{url}/status") as r:
                    status = await r.json()
                    assert status["last"]["outcome"] == "skipped" and status["production"] == 1
                async with http.get(f"{url}/metrics") as r:
                    text = await r.text()
                    assert 'driftline_alerts_received_total{alertname="DriftlineFeatureDrift"} 1.0' in text
                    assert 'driftline_alerts_received_total{alertname="DriftlineProcessorDown"} 1.0' in text
                async with http.get(f"{url}/healthz") as r:
                    assert r.status == 200
        finally:
            await runner.cleanup()

    asyncio.run(scenario())
    scheduler.close()
    assert [r.reason for r in started] == ["DriftlineFeatureDrift:salary"]
    trigger = started[0].trigger  # what the version it makes records as its trigger: the alerts, when received
    assert trigger.kind == "alert" and trigger.alerts == ("DriftlineFeatureDrift",)
    assert abs((datetime.now(UTC) - trigger.at).total_seconds()) < 60
    # the alert named no change point: it is taken to begin lookback_seconds (15) before the alert started
    assert started[0].since_ms == int(datetime.fromisoformat("2026-11-22T03:00:00Z").timestamp() * 1000) - 15_000


def test_an_alert_names_its_change_point_or_is_taken_to_start_before_it_fired() -> None:
    carried, plain, unreadable = parse_payload(payload(
        alert("DriftlineAccuracyDrop", change_time_seconds="1764644400.5"),
        alert("DriftlineFeatureDrift", feature="salary"),
        alert("DriftlineFeatureDrift", starts="not a time", feature="age"),
    ))  # fmt: skip
    assert carried.change_ms(15) == 1_764_644_400_500
    assert plain.change_ms(15) == int(datetime.fromisoformat("2026-11-22T03:00:00Z").timestamp() * 1000) - 15_000
    assert unreadable.change_ms(15) is None
    assert all(a.asks_for_retrain for a in (carried, plain, unreadable))


def test_a_promotion_from_a_change_point_settles_with_more_rounds_from_the_same_point() -> None:
    requests: list[RetrainRequest] = []

    def run(request: RetrainRequest) -> RetrainResult:
        requests.append(request)
        return RetrainResult("promoted" if request.settle_round == 0 else "rejected", "fake")

    scheduler = RetrainScheduler(run, TrainerMetrics(CollectorRegistry()), cooldown_seconds=300, settle_rounds=2,
                                 settle_seconds=0.01)  # fmt: skip

    async def scenario() -> None:
        assert scheduler.request("drift", ["a@1"], since_ms=5_000) == "started"
        await scheduler.wait_idle()
        assert scheduler.status()["settle_pending"]  # the loop has not settled: a round is due
        deadline = time.monotonic() + 10
        for _ in range(2):  # two settle rounds (the cooldown does not hold them back)
            while not scheduler.running and len(requests) < 3:
                assert time.monotonic() < deadline, f"settle rounds did not start: {requests}"
                await asyncio.sleep(0.01)
            await scheduler.wait_idle()
        await asyncio.sleep(0.05)  # five settle intervals: time for a wrong fourth round to start (settle_rounds is 2)
        assert not scheduler.status()["settle_pending"]

    asyncio.run(scenario())
    scheduler.close()
    # the first round is quick (the short search budget): the settle rounds refine it with the full one
    assert [(r.since_ms, r.settle_round, r.quick) for r in requests] == [(5_000, 0, True), (5_000, 1, False),
                                                                        (5_000, 2, False)]  # fmt: skip
    assert requests[2].reason == "drift (settle 2)"


def test_a_retrain_without_a_change_point_does_not_settle() -> None:
    requests: list[RetrainRequest] = []

    def run(request: RetrainRequest) -> RetrainResult:
        requests.append(request)
        return RetrainResult("promoted", "fake")

    scheduler = RetrainScheduler(run, TrainerMetrics(CollectorRegistry()), cooldown_seconds=0, settle_rounds=2,
                                 settle_seconds=0.01)  # fmt: skip

    async def scenario() -> None:
        scheduler.request("by hand")
        await scheduler.wait_idle()
        await asyncio.sleep(0.05)

    asyncio.run(scenario())
    scheduler.close()
    assert len(requests) == 1 and not requests[0].quick  # nothing will refine it: the full search budget


def test_without_settle_rounds_a_change_point_retrain_takes_the_full_budget() -> None:
    requests: list[RetrainRequest] = []

    def run(request: RetrainRequest) -> RetrainResult:
        requests.append(request)
        return RetrainResult("promoted", "fake")

    scheduler = RetrainScheduler(run, TrainerMetrics(CollectorRegistry()), cooldown_seconds=0, settle_rounds=0)

    async def scenario() -> None:
        scheduler.request("drift", since_ms=5_000)
        await scheduler.wait_idle()

    asyncio.run(scenario())
    scheduler.close()
    assert [(r.settle_round, r.quick) for r in requests] == [(0, False)]


def test_work_submitted_to_the_retrain_thread_runs_before_a_later_retrain_and_its_errors_are_not_fatal() -> None:
    order: list[str] = []

    def run(request: RetrainRequest) -> RetrainResult:
        order.append("retrain")
        return RetrainResult("rejected", "fake")

    def broken_warm_up() -> None:
        order.append("warm-up")
        raise RuntimeError("no model yet")

    scheduler = RetrainScheduler(run, TrainerMetrics(CollectorRegistry()), cooldown_seconds=0)

    async def scenario() -> RetrainResult | None:
        scheduler.submit(broken_warm_up)
        scheduler.request("drift")
        return await scheduler.wait_idle()

    result = asyncio.run(scenario())
    scheduler.close()
    assert order == ["warm-up", "retrain"] and result is not None and result.outcome == "rejected"
