"""The closed loop on the real stack, Prometheus and Alertmanager included.

Two workers on the ports Prometheus scrapes (6066, 6067) and the trainer on 8088. A stationary stream raises no
drift alert; then salary's distribution shifts and the labelling concept changes with it: the PSI gauge crosses
0.25 and the workers' change detector sees the error rate rise, Prometheus fires DriftlineFeatureDrift (and
DriftlineErrorRateChange), Alertmanager calls the trainer, the retrained challenger wins the
gate on the newest data, is promoted and announced, every worker swaps to it, and live accuracy recovers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from driftline.registry import Registry
from driftline.settings import Settings
from driftline.sources import AgrawalSource
from harness.processes import ROOT, WorkerProcess, settings_env
from harness.waiting import wait_for
from monitoring.dashboards import DASHBOARDS
from monitoring.dashboards import FILES as DASHBOARD_FILES
from monitoring.dashboards.queries import panels as dashboard_panels
from monitoring.dashboards.queries import substitute
from producers.producer import ProduceOptions, RecordProducer
from tests.integration.pipeline import Pipeline
from trainer.webhook import RETRAIN_ALERTS

RATE = 2000
DRIFT_AT = 120_000  # records: 60 s of stationary stream at RATE before the world changes (the drift
# alerts' `for:` is 10 s)


@dataclass
class Loop:
    pipeline: Pipeline
    trainer: subprocess.Popen[bytes]
    trainer_log: Path
    prometheus: str

    def query(self, expr: str) -> list[dict[str, Any]]:
        url = f"{self.prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.loads(response.read())["data"]["result"]

    def alerts(self, name: str, state: str | None = None) -> list[dict[str, Any]]:
        expr = f'ALERTS{{alertname="{name}"' + (f',alertstate="{state}"' if state else "") + "}"
        return self.query(expr)

    def trainer_status(self) -> dict[str, Any]:
        assert self.trainer.poll() is None, self.trainer_log.read_text()[-3000:]
        with urllib.request.urlopen("http://127.0.0.1:8088/status", timeout=5) as response:
            return json.loads(response.read())


@pytest.fixture
def loop(pipeline: Pipeline, registry: Registry, settings: Settings, tmp_path: Path) -> Iterator[Loop]:
    pipeline.registry = registry
    env = {
        **pipeline.env(),
        # one settle round soon after the quick first retrain, each search a little shorter than the defaults
        **settings_env(trainer={"cooldown_seconds": 30, "retrain_window": 12_000, "settle_rounds": 1,
                                "settle_seconds": 5, "search_budget_seconds": 25},
                       processor={"metrics_port_base": 6066, "model_reconcile_seconds": 10}),
    }  # fmt: skip
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTLINE_")}
    log_path = tmp_path / "trainer.log"
    with log_path.open("wb") as log:
        trainer = subprocess.Popen([sys.executable, "-m", "trainer", "serve"], cwd=ROOT, env={**clean, **env},
                                   stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    for index in range(2):
        pipeline.workers.append(WorkerProcess(env, index, tmp_path, 6066 + index).start())
    try:
        for worker in pipeline.workers:
            worker.wait_serving()
        yield Loop(pipeline, trainer, log_path, f"http://127.0.0.1:{settings.stack.prometheus_port}")
    finally:
        trainer.terminate()
        trainer.wait(timeout=30)


# Panels that show data only while something happens (an alert firing) and may rightly be empty after the run.
EVENT_PANELS = {"Firing alerts"}


def dashboard_queries() -> list[tuple[str, str]]:
    """Both dashboards' panel queries, every worker, version and feature picked (as the dashboards open)."""
    found = []
    for name in DASHBOARD_FILES.values():
        dashboard = json.loads((DASHBOARDS / name).read_text())
        found += [(panel["title"], substitute(target["expr"], {"worker": ".*", "version": ".*", "feature": ".*"}))
                  for panel in dashboard_panels(dashboard) if panel["title"] not in EVENT_PANELS
                  for target in panel.get("targets", []) if target.get("expr")]  # fmt: skip
    return found


def serving_versions(pipeline: Pipeline) -> list[int | None]:
    return [worker.serving_version() for worker in pipeline.workers]


def test_drift_alert_retrain_promotion_and_swap_in_every_worker(loop: Loop, registry: Registry) -> None:
    p = loop.pipeline
    champion = registry.alias("production").version  # type: ignore[union-attr]
    wait_for(lambda: len(loop.query('up{job="driftline-processor"} == 1')) == 2, timeout=60,
             message="Prometheus scraping both workers")  # fmt: skip
    wait_for(lambda: loop.query('up{job="driftline-trainer"} == 1'), timeout=60,
             message="Prometheus scraping the trainer")  # fmt: skip

    source = AgrawalSource(seed=401, drift=f"covariate:salary:scale=1.8@{DRIFT_AT};concept:function=2@{DRIFT_AT}")
    producer = RecordProducer(p.kafka)
    stop = threading.Event()
    stream = threading.Thread(target=producer.run, kwargs={"source": source, "stop": stop.is_set,
                              "options": ProduceOptions(rate=RATE, label_delay_seconds=1.0, bad_ratio=0.002)},
                              daemon=True)  # fmt: skip
    started = time.monotonic()
    stream.start()
    try:
        # 1. Stationary: the drift window fills, PSI stays low, no drift alert even pending, for 60 s.
        wait_for(lambda: loop.query("max(driftline_drift_window_records) >= 5000"), timeout=60,
                 message="drift windows filled")  # fmt: skip
        while time.monotonic() - started < DRIFT_AT / RATE - 10:
            assert not loop.alerts("DriftlineFeatureDrift"), "a drift alert on a stationary stream"
            assert not loop.alerts("DriftlinePredictionDrift"), "a prediction drift alert on a stationary stream"
            assert not loop.alerts("DriftlineErrorRateChange"), "an error-rate change on a stationary stream"
            time.sleep(2)
        stationary_psi = max(float(r["value"][1]) for r in loop.query("driftline_feature_drift_psi"))
        assert stationary_psi < 0.1

        # 2. Drift: the salary PSI crosses 0.25 and Prometheus fires the alert (after its `for:` period).
        wait_for(lambda: loop.query('max(driftline_feature_drift_psi{feature="salary"}) > 0.25'), timeout=60,
                 message="salary PSI over 0.25")  # fmt: skip
        crossed = time.monotonic()
        firing = wait_for(lambda: loop.alerts("DriftlineFeatureDrift", "firing"), timeout=150,
                          message="DriftlineFeatureDrift firing")  # fmt: skip
        assert {a["metric"].get("feature") for a in firing} >= {"salary"}
        fired = time.monotonic()

        # 3. Alertmanager calls the trainer; the challenger wins on the newest data and is promoted.
        def promoted() -> dict[str, Any] | None:
            status = loop.trainer_status()
            outcomes = [h["outcome"] for h in status["history"]]
            assert "failed" not in outcomes, status
            return next((h for h in status["history"] if h["outcome"] == "promoted"), None)

        result = wait_for(promoted, timeout=240, interval=2, message="a retrain promoted by the drift alert")
        assert any(name in result["trigger"] for name in RETRAIN_ALERTS), result["trigger"]  # whichever came first
        new = result["new_version"]
        assert new != champion and registry.alias("production").version == new  # type: ignore[union-attr]

        # 4. Every worker serves it (announced on model-updates), within 10 s of promotion.
        wait_for(lambda: serving_versions(p) == [new, new], timeout=10, interval=0.2,
                 message=f"both workers serving version {new}")  # fmt: skip
        swapped = time.monotonic()
        wait_for(lambda: loop.query(f'count(driftline_model_info{{version="{new}"}} == 1) == 2'), timeout=20,
                 message="both workers' new version visible in Prometheus (5 s scrapes)")  # fmt: skip

        # 5. Live accuracy on the drifted stream recovers under the new version.
        def recovered() -> bool:
            rows = loop.query(f'min(driftline_labeled_accuracy{{version="{new}"}})')
            return bool(rows) and float(rows[0]["value"][1]) > result["champion_holdout"]["accuracy"] + 0.1

        wait_for(recovered, timeout=90, interval=2, message="accuracy of the new version above the old one's")

        # 6. Settled: no retrain running or due; then, once every worker's accuracy window (2,000 labels) holds
        #    only labels of the version serving, its live accuracy is near the limit the data allows (0.949).
        def settled() -> int | None:
            status, versions = loop.trainer_status(), serving_versions(p)
            # and no staging trial under way (a settle round's winner may wait in staging; it swaps when judged)
            idle = status["state"] != "running" and not status["settle_pending"] and status.get("staging") is None
            return versions[0] if idle and len(set(versions)) == 1 else None

        serving = wait_for(settled, timeout=180, interval=2, message="the loop settled (no retrain running or due)")
        counted = sum(w.metric("driftline_labels_total", outcome="matched") for w in p.workers)
        wait_for(lambda: sum(w.metric("driftline_labels_total", outcome="matched") for w in p.workers)
                 >= counted + 2 * 2000 * len(p.workers), timeout=60, interval=1,
                 message="two accuracy windows of labels after settling")  # fmt: skip
        assert serving_versions(p) == [serving] * len(p.workers), "a swap after the loop settled"
        accuracies = [w.metric("driftline_labeled_accuracy", version=str(serving)) for w in p.workers]
        assert min(accuracies) > 0.9, f"settled live accuracy of version {serving}: {accuracies}"

        # 7. Every Grafana panel's query parses and returns data from the real Prometheus after this run.
        #    A series the trainer set moments ago reaches Prometheus at its next scrape (every 5 s): wait for it.
        empty: list[str] = []

        def every_panel_has_data() -> bool:
            empty[:] = [title for title, expr in dashboard_queries() if not loop.query(expr)]
            return not empty

        try:
            wait_for(every_panel_has_data, timeout=30, interval=2, message="data in every dashboard panel")
        except AssertionError:
            raise AssertionError(f"dashboard panels without data after 30 s: {empty}") from None
    finally:
        stop.set()
        stream.join(timeout=30)
        producer.close()
    print(f"\nPSI crossed {crossed - started - DRIFT_AT / RATE:.0f}s after drift onset; alert fired "
          f"{fired - crossed:.0f}s later; promoted and swapped {swapped - fired:.0f}s after the alert; "
          f"holdout accuracy champion {result['champion_holdout']['accuracy']:.3f} → "
          f"challenger {result['challenger_holdout']['accuracy']:.3f}; settled live accuracy of version {serving}: "
          f"{min(accuracies):.3f}")  # fmt: skip
