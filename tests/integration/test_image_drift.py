"""Drift of an image model on the real stack: a worker serving a digits CNN publishes its image statistics' PSI
(``driftline_feature_drift_psi{feature="image.mean_intensity"}`` ...) and its confidence PSI, both low on a fresh
stream of the training distribution and over the alert threshold once the pictures are inverted."""

from __future__ import annotations

import pytest

from driftline.registry import Registry
from driftline.sources.digits import DigitsSource
from harness.processes import WorkerProcess, free_port, settings_env
from harness.waiting import wait_for
from tests.integration.pipeline import Pipeline

STATS = ("image.mean_intensity", "image.ink_ratio", "image.contrast")
WINDOW = 1000  # records in the worker's drift window: small, so one inverted burst fills it


@pytest.fixture
def digits_pipeline(pipeline: Pipeline, digits_registry: Registry) -> Pipeline:
    """The test's own corner of the stack (topics, Redis keys, workers stopped after), serving the digits CNN."""
    pipeline.registry = digits_registry
    return pipeline


def _worker(p: Pipeline) -> WorkerProcess:
    port = free_port()
    env = {**p.env(), **settings_env(processor={"metrics_port_base": port, "batch_max": 500, "drift_window": WINDOW,
                                                "drift_min_records": WINDOW})}  # fmt: skip
    worker = WorkerProcess(env, 0, p.tmp, port).start()
    p.workers.append(worker)
    return worker


def _drift(worker: WorkerProcess) -> dict[str, float]:
    samples = worker.metrics()
    out = {s: samples[("driftline_feature_drift_psi", (("feature", s),))] for s in STATS
           if ("driftline_feature_drift_psi", (("feature", s),)) in samples}  # fmt: skip
    out["confidence"] = samples.get(("driftline_prediction_confidence_psi", ()), 0.0)
    out["records"] = samples.get(("driftline_drift_window_records", ()), 0.0)
    return out


def test_a_digits_worker_publishes_image_and_confidence_drift(digits_pipeline: Pipeline) -> None:
    p = digits_pipeline
    worker = _worker(p)
    worker.wait_serving()

    fresh = DigitsSource(seed=21)
    p.produce(fresh, WINDOW)  # type: ignore[arg-type]
    p.wait_all_scored([r.record["id"] for r in fresh.take(WINDOW)])
    wait_for(lambda: _drift(worker)["records"] >= WINDOW and len(_drift(worker)) == len(STATS) + 2, timeout=30,
             interval=0.5, message="the drift gauges of a full window")  # fmt: skip
    calm = _drift(worker)
    assert all(calm[s] < 0.1 for s in STATS), calm
    assert calm["confidence"] < 0.25, calm

    inverted = DigitsSource(seed=22, drift="inversion@0")
    p.produce(inverted, WINDOW)  # type: ignore[arg-type]
    p.wait_all_scored([r.record["id"] for r in inverted.take(WINDOW)])

    def drifted() -> bool:
        now = _drift(worker)
        return now["image.mean_intensity"] > 1.0 and now["image.ink_ratio"] > 1.0 and now["confidence"] > 0.25

    wait_for(drifted, timeout=30, interval=0.5, message="inverted digits' drift on the gauges")
    assert _drift(worker)["image.contrast"] < 0.1  # inversion keeps the spread of the pixel values
