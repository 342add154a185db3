"""The drift monitor: gauges published at most once a second, the latest window always reaching them, a swap's new
window starting empty, nothing stale."""

from __future__ import annotations

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from driftline.contract import Contract, builtin_contract
from driftline.profile import Profile
from driftline.profile.image_stats import STATISTICS
from processors.drift_monitor import DriftMonitor
from processors.metrics import ProcessorMetrics

pytestmark = pytest.mark.unit

CONTRACT = Contract.model_validate({"name": "test", "features": [{"name": "x", "kind": "numeric"}]})


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _columns(n: int, shift: float, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    x = np.random.default_rng(seed).normal(shift, 1.0, n)
    return {"x": x}, 1 / (1 + np.exp(-x))


@pytest.fixture
def parts() -> tuple[ProcessorMetrics, DriftMonitor, Profile, Clock]:
    columns, scores = _columns(5000, 0.0, seed=1)
    profile = Profile.fit(columns, CONTRACT, scores)
    metrics = ProcessorMetrics(CollectorRegistry())
    clock = Clock()
    monitor = DriftMonitor(metrics, size=1000, min_records=100, interval=1.0, clock=clock)
    monitor.reset(profile)
    return metrics, monitor, profile, clock


def _batch(monitor: DriftMonitor, profile: Profile, shift: float, seed: int) -> None:
    """What the pipeline does after each batch it scores: add the batch's counts."""
    columns, scores = _columns(200, shift, seed)
    monitor.add(profile.counts(columns, scores))


def _read(metrics: ProcessorMetrics) -> tuple[float, float | None]:
    registry = metrics.registry
    records = registry.get_sample_value("driftline_drift_window_records")
    psi = registry.get_sample_value("driftline_feature_drift_psi", {"feature": "x"})
    assert records is not None
    return records, psi


def test_the_first_batch_is_published_at_once_then_at_most_once_per_interval(parts) -> None:
    metrics, gauges, profile, clock = parts
    _batch(gauges, profile, 0.0, seed=2)
    records, first_psi = _read(metrics)
    assert records == 200 and first_psi is not None and first_psi < 0.1

    clock.now += 0.5
    _batch(gauges, profile, 3.0, seed=3)  # a drifted batch, 0.5 s later: not published yet
    assert _read(metrics) == (200, first_psi)

    clock.now += 0.5  # the interval has passed: the next batch publishes everything added since
    _batch(gauges, profile, 3.0, seed=4)
    records, psi = _read(metrics)
    assert records == 600 and psi is not None and psi > 0.25


def test_the_timer_publishes_what_the_last_batches_left_behind(parts) -> None:
    metrics, gauges, profile, clock = parts
    _batch(gauges, profile, 0.0, seed=2)
    clock.now += 0.2
    _batch(gauges, profile, 3.0, seed=3)  # then the stream pauses
    assert _read(metrics)[0] == 200
    clock.now += 1.0
    gauges.publish()
    records, psi = _read(metrics)
    assert records == 400 and psi is not None and psi > 0.25


def test_publish_without_a_new_batch_changes_nothing(parts) -> None:
    metrics, gauges, profile, clock = parts
    _batch(gauges, profile, 0.0, seed=2)
    metrics.drift_window_records.set(-1)  # a marker: a publication would overwrite it
    clock.now += 5.0
    gauges.publish()
    assert _read(metrics)[0] == -1
    _batch(gauges, profile, 0.0, seed=3)  # and it did not postpone the next batch's publication
    assert _read(metrics)[0] == 400


def test_clear_drops_the_old_models_values_and_its_unpublished_batches(parts) -> None:
    metrics, gauges, profile, clock = parts
    _batch(gauges, profile, 3.0, seed=2)
    _batch(gauges, profile, 3.0, seed=3)  # within the interval: waiting for a publication
    gauges.reset(profile)  # a model swap
    assert _read(metrics) == (0, None)
    assert gauges.window is not None and gauges.window.records == 0
    clock.now += 2.0
    gauges.publish()  # the timer must not bring the old model's window back
    assert _read(metrics) == (0, None)


def test_a_window_below_its_minimum_publishes_only_its_size(parts) -> None:
    metrics, _, profile, clock = parts
    small = DriftMonitor(metrics, size=1000, min_records=500, clock=clock)
    small.reset(profile)
    _batch(small, profile, 3.0, seed=2)
    assert _read(metrics) == (200, None)


def test_adding_before_a_model_is_an_error(parts) -> None:
    metrics, _, _, clock = parts
    with pytest.raises(RuntimeError, match="reset"):
        DriftMonitor(metrics, size=1000, min_records=100, clock=clock).add({})


def _confidence(metrics: ProcessorMetrics) -> float | None:
    return metrics.registry.get_sample_value("driftline_prediction_confidence_psi")


def test_the_confidence_gauge_rises_when_scores_flatten_and_a_swap_zeroes_it(parts) -> None:
    metrics, gauges, profile, clock = parts
    columns, scores = _columns(200, 0.0, seed=2)
    gauges.add(profile.counts(columns, scores))
    calm = _confidence(metrics)
    assert calm is not None and calm < 0.1
    clock.now += 1.0
    flat = 0.5 + (scores - 0.5) * 0.1  # the same records, scored near 0.5: an unsure model
    gauges.add(profile.counts(columns, flat))
    unsure = _confidence(metrics)
    assert unsure is not None and unsure > 0.25
    gauges.reset(profile)
    assert _confidence(metrics) == 0


def test_a_profile_without_confidence_bins_leaves_the_confidence_gauge_at_zero(parts) -> None:
    metrics, gauges, profile, _ = parts
    old = profile.to_dict()
    del old["confidence"]  # as written before confidence bins existed
    legacy = Profile.from_dict(old)
    gauges.reset(legacy)
    columns, scores = _columns(200, 0.0, seed=2)
    gauges.add(legacy.counts(columns, 0.5 + (scores - 0.5) * 0.1))
    assert _read(metrics)[0] == 200 and _confidence(metrics) == 0


def test_an_image_profile_publishes_one_psi_per_statistic() -> None:
    rng = np.random.default_rng(0)

    def images(n: int, invert: bool) -> np.ndarray:
        out = np.empty(n, dtype=object)
        for i in range(n):
            pixels = np.zeros((28, 28, 1), dtype=np.uint8)
            top, left, size = rng.integers(4, 10), rng.integers(4, 10), rng.integers(8, 16)
            pixels[top : top + size, left : left + size] = rng.integers(150, 256)
            out[i] = 255 - pixels if invert else pixels
        return out

    def scores(n: int) -> np.ndarray:
        e = np.exp(rng.normal(0, 3, (n, 10)))
        return e / e.sum(axis=1, keepdims=True)

    digits = builtin_contract("digits")
    profile = Profile.fit({"image": images(2000, False)}, digits, scores(2000))
    metrics = ProcessorMetrics(CollectorRegistry())
    monitor = DriftMonitor(metrics, size=1000, min_records=100, interval=0.0, clock=Clock())
    monitor.reset(profile)
    monitor.add(profile.counts({"image": images(500, False)}, scores(500)))
    read = metrics.registry.get_sample_value
    calm = {s: read("driftline_feature_drift_psi", {"feature": f"image.{s}"}) for s in STATISTICS}
    assert all(v is not None and v < 0.1 for v in calm.values()), calm
    assert read("driftline_feature_missing_ratio", {"feature": "image.ink_ratio"}) == 0
    monitor.reset(profile)
    monitor.add(profile.counts({"image": images(500, True)}, scores(500)))
    inverted = read("driftline_feature_drift_psi", {"feature": "image.mean_intensity"})
    assert inverted is not None and inverted > 0.25
