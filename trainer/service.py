"""The retrain service on port 8088: ``/alerts`` (Alertmanager webhook), ``/status``, ``/metrics``, ``/healthz``.

One retrain at a time, in a worker thread; a cooldown after each; an alert occurrence already seen is not acted
on twice (Alertmanager repeats notifications while an alert keeps firing). A retrain an alert asked for learns from
the change point the alert names; once it has promoted, follow-ups ("settle" rounds) learn again from the same
change point every ``settle_seconds``, as more labels arrive, each promoted only if it beats the champion.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from trainer.metrics import TrainerMetrics
from trainer.request import RetrainRequest
from trainer.retrain import RetrainResult
from trainer.webhook import PayloadError, parse_payload

logger = logging.getLogger(__name__)


class RetrainScheduler:
    """Decides whether an alert starts a retrain, runs it off the event loop, and remembers how it went."""

    def __init__(
        self,
        run: Callable[[RetrainRequest], RetrainResult],
        metrics: TrainerMetrics,
        *,
        cooldown_seconds: float,
        settle_rounds: int = 0,
        settle_seconds: float = 20.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._run = run
        self.metrics = metrics
        self.cooldown_seconds = cooldown_seconds
        self.settle_rounds = settle_rounds
        self.settle_seconds = settle_seconds
        self._settle: asyncio.TimerHandle | None = None
        self._clock = clock
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="retrain")
        self._task: asyncio.Task[RetrainResult] | None = None
        self._seen: deque[str] = deque(maxlen=1000)
        self._cooldown_until = 0.0
        self.running_since: str | None = None
        self.last: RetrainResult | None = None
        self.last_finished: str | None = None
        self.history: deque[dict[str, Any]] = deque(maxlen=20)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def request(self, reason: str, keys: list[str] | None = None, *, since_ms: int | None = None,
                alerts: tuple[str, ...] = ()) -> str:  # fmt: skip
        """'started', or why not: 'duplicate', 'running', 'cooldown'. ``alerts``: the names of the alerts asking."""
        if keys and all(k in self._seen for k in keys):
            return "duplicate"
        if self.running:
            return "running"
        if self._clock() < self._cooldown_until:
            return "cooldown"
        self._seen.extend(keys or [])
        self._start(RetrainRequest(reason, since_ms, quick=since_ms is not None and self.settle_rounds > 0,
                                   alerts=alerts))  # fmt: skip
        return "started"

    def submit(self, work: Callable[[], object]) -> None:
        """Run ``work`` on the retrain thread, before any retrain asked for later (a warm-up); its errors are logged."""

        def logged() -> None:
            try:
                work()
            except Exception:
                logger.exception("work on the retrain thread failed")

        self._executor.submit(logged)

    def _start(self, request: RetrainRequest) -> None:
        if self._settle is not None:  # a new change point supersedes the last one's follow-ups
            self._settle.cancel()
            self._settle = None
        self.running_since = datetime.now(UTC).isoformat()
        self._task = asyncio.get_running_loop().create_task(self._retrain(request))

    def _settle_later(self, request: RetrainRequest) -> None:
        def fire() -> None:
            self._settle = None
            if self.running:  # another retrain holds the thread: try again later
                self._settle_later(request)
            else:
                self._start(request)

        self._settle = asyncio.get_running_loop().call_later(self.settle_seconds, fire)

    async def _retrain(self, request: RetrainRequest) -> RetrainResult:
        logger.info("retrain started: %s (since_ms=%s)", request.reason, request.since_ms)
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(self._executor, self._run, request)
        except Exception as exc:  # a bug in a retrain must not take the service down
            logger.exception("retrain crashed")
            result = RetrainResult("failed", f"{exc.__class__.__name__}: {exc}")
        self.metrics.retrains.labels(outcome=result.outcome).inc()
        self.metrics.retrain_duration.observe(result.seconds)
        for version, evaluation in ((result.champion_version, result.champion_holdout),
                                    (result.new_version, result.challenger_holdout)):  # fmt: skip
            if version is not None:
                for metric in ("accuracy", "roc_auc", "log_loss", "f1"):
                    if metric in evaluation:
                        self.metrics.model_eval.labels(version=str(version), metric=metric).set(evaluation[metric])
        self.last, self.running_since = result, None
        self.last_finished = datetime.now(UTC).isoformat()
        self.history.append({"finished_at": self.last_finished, "trigger": request.reason,
                             "since_ms": request.since_ms, **asdict(result)})  # fmt: skip
        self._cooldown_until = self._clock() + self.cooldown_seconds
        # settle: after a promotion from a change point, and after a follow-up (promoted or not), learn again
        if request.since_ms is not None and request.settle_round < self.settle_rounds and (
            result.outcome == "promoted" or request.settle_round > 0
        ):
            self._settle_later(request.settling())
        return result

    async def wait_idle(self) -> RetrainResult | None:
        if self._task is not None:
            return await self._task
        return None

    def status(self) -> dict[str, Any]:
        remaining = max(0.0, self._cooldown_until - self._clock())
        return {
            "state": "running" if self.running else ("cooldown" if remaining > 0 else "idle"),
            "settle_pending": self._settle is not None,  # a settle round is due: the loop has not settled yet
            "running_since": self.running_since,
            "cooldown_seconds_left": round(remaining, 1),
            "last_finished": self.last_finished,
            "last": asdict(self.last) if self.last else None,
            "history": list(self.history),
        }

    def close(self) -> None:
        if self._settle is not None:
            self._settle.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)


def _describe(name: str, labels: dict[str, str]) -> str:
    feature = labels.get("feature")
    return f"{name}:{feature}" if feature else name


def create_web_app(
    scheduler: RetrainScheduler, token: str, status_extra: Callable[[], dict[str, Any]], *,
    lookback_seconds: float = 15.0,
) -> web.Application:
    """``lookback_seconds``: how long before an alert without a change point of its own its change is taken to begin."""
    app = web.Application(client_max_size=1024 * 1024)
    metrics = scheduler.metrics

    def authorised(request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        return header.startswith("Bearer ") and hmac.compare_digest(header[7:].encode(), token.encode())

    async def alerts(request: web.Request) -> web.Response:
        if not authorised(request):
            return web.json_response({"error": "missing or wrong bearer token"}, status=401)
        try:
            body = await request.json()
            received = parse_payload(body)
        except (ValueError, PayloadError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        for alert in received:
            metrics.alerts_received.labels(alertname=alert.name).inc()
        asking = [a for a in received if a.asks_for_retrain]
        if not asking:
            return web.json_response({"retrain": "not requested"})
        reason = ", ".join(sorted({_describe(a.name, a.labels) for a in asking}))
        # a detector's change point beats a guess from an alert's start
        changes = [a.carried_change_ms for a in asking if a.carried_change_ms is not None] or [
            ms for ms in (a.change_ms(lookback_seconds) for a in asking) if ms is not None
        ]
        decision = scheduler.request(reason, [a.key for a in asking], since_ms=min(changes) if changes else None,
                                     alerts=tuple(sorted({a.name for a in asking})))  # fmt: skip
        logger.info("alerts %s → retrain %s", reason, decision)
        return web.json_response({"retrain": decision, "reason": reason}, status=202 if decision == "started" else 200)

    async def status(request: web.Request) -> web.Response:
        return web.json_response({**scheduler.status(), **status_extra()})

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def metrics_page(request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_post("/alerts", alerts)
    app.router.add_get("/status", status)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_page)
    return app
