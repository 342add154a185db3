"""ADWIN (driftline/change.py): parity with River's, detection delay and change point, one side, false alarms; and its
use in the workers' label join (processors/labels.py): one detector per model version, and its metrics."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterable

import orjson
import pytest
from prometheus_client import CollectorRegistry

from driftline.change import Adwin
from driftline.messages import encode_label_event
from driftline.settings import ProcessorSettings, RedisSettings
from processors.labels import LabelJoin
from processors.metrics import ProcessorMetrics

DELTA = ProcessorSettings().error_change_delta  # the workers' delta


def _bernoulli(rng: random.Random, p: float, n: int) -> list[float]:
    return [1.0 if rng.random() < p else 0.0 for _ in range(n)]


def _detections(detector: object, stream: Iterable[float]) -> list[int]:
    update: Callable[[float], object] = detector.update  # type: ignore[attr-defined]
    found = []
    for i, x in enumerate(stream):
        update(x)
        if detector.drift_detected:  # type: ignore[attr-defined]
            found.append(i)
    return found


def _streams() -> list[tuple[str, list[float]]]:
    out = []
    for seed in range(4):
        rng = random.Random(seed)
        errors = _bernoulli(rng, 0.06, 4000) + _bernoulli(rng, 0.25, 3000) + _bernoulli(rng, 0.1, 3000)
        gauss = [rng.gauss(0, 1) for _ in range(3000)] + [rng.gauss(0.6, 1) for _ in range(2000)]
        gauss += [rng.gauss(-0.4, 2) for _ in range(3000)]
        out += [(f"bernoulli-{seed}", errors), (f"gauss-{seed}", gauss)]
    return out


PARAMS = [
    {"delta": 0.002},
    {"delta": 0.1, "clock": 1},
    {"delta": 1e-5, "clock": 7, "max_buckets": 3, "min_window_length": 10, "grace_period": 50},
]


@pytest.mark.parametrize("params", PARAMS, ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()))
def test_same_detections_and_state_as_rivers_adwin(params: dict[str, float]) -> None:
    river_drift = pytest.importorskip("river.drift")
    detected = 0
    for name, stream in _streams():
        theirs, ours = river_drift.ADWIN(**params), Adwin(**params)  # type: ignore[arg-type]
        for i, x in enumerate(stream):
            theirs.update(x)
            ours.update(x)
            assert ours.drift_detected == theirs.drift_detected, f"{name}: detection differs at {i}"
            detected += ours.drift_detected
            assert ours.width == theirs.width and ours.total == pytest.approx(theirs.total), f"{name} at {i}"
        assert ours.variance == pytest.approx(theirs.variance, rel=1e-9, abs=1e-9)
        assert ours.estimation == pytest.approx(theirs.estimation)
    assert detected >= len(_streams())  # every stream has changes to find


def test_hand_checked_cases_from_rivers_documentation() -> None:
    rng = random.Random(12345)  # river.drift.ADWIN's docstring example, which detects at 1023
    stream = rng.choices([0, 1], k=1000) + rng.choices(range(4, 8), k=1000)
    detector = Adwin()
    assert _detections(detector, stream[:1024]) == [1023]
    change = detector.change
    assert change is not None and change.detected_at == 1023 and detector.n_detections == 1
    assert 990 <= change.position <= 1010
    assert change.mean_before == pytest.approx(0.5, abs=0.05) and change.mean_after == pytest.approx(5.5, abs=0.3)
    assert change.dropped == 1024 - detector.width
    detector.update(5.0)  # the next update starts a new window, as River's does
    assert detector.width == 1 and not detector.drift_detected and detector.n_seen == 1025


def test_window_statistics() -> None:
    detector = Adwin(clock=10**9)
    values = [float(i % 7) for i in range(200)]
    for v in values:
        detector.update(v)
    mean = sum(values) / len(values)
    assert detector.width == 200 and detector.estimation == pytest.approx(mean)
    assert detector.variance == pytest.approx(sum((v - mean) ** 2 for v in values))
    assert Adwin().estimation == 0.0
    with pytest.raises(ValueError, match="delta"):
        Adwin(0.0)
    with pytest.raises(ValueError, match="clock"):
        Adwin(clock=0)


def test_error_rate_rise_is_found_within_a_few_hundred_labels_at_its_position() -> None:
    """0.06 -> 0.25 at 20,000, the workers' delta, 30 seeds: within 400 records, change point within 200."""
    for seed in range(30):
        rng = random.Random(seed)
        stream = _bernoulli(rng, 0.06, 20_000) + _bernoulli(rng, 0.25, 2000)
        detector = Adwin(DELTA, one_sided=True)
        found = _detections(detector, stream)
        assert found and 20_000 <= found[0] <= 20_400, f"seed {seed}: {found}"
        change = detector.change
        assert change is not None and change.detected_at == found[0]
        assert abs(change.position - 20_000) <= 200, f"seed {seed}: {change}"
        assert change.mean_before == pytest.approx(0.06, abs=0.01)
        assert 0.15 < change.mean_after < 0.5  # from the few hundred records after the change point


def test_one_sided_ignores_a_fall_but_follows_it() -> None:
    rng = random.Random(3)
    stream = _bernoulli(rng, 0.25, 10_000) + _bernoulli(rng, 0.06, 10_000)
    assert _detections(Adwin(DELTA), stream), "two-sided: the fall is a change"
    detector = Adwin(DELTA, one_sided=True)
    assert _detections(detector, stream) == []
    # The window dropped the worse part but for its oldest bucket, which straddles the fall.
    assert detector.width < 11_000 and detector.estimation == pytest.approx(0.06, abs=0.01)
    rise = _bernoulli(rng, 0.25, 2000)  # worse again: measured against the better rate
    assert _detections(detector, rise)


def test_no_false_alarm_on_two_million_stationary_labels() -> None:
    """delta = ProcessorSettings().error_change_delta (1e-8), one-sided as in the workers, clock 32, 5 buckets.

    Bound (driftline/change.py): expected false alarms <= n / 32 * 5 * delta; over these 2,000,000 records that is
    0.003, over the issue's 10,000,000 0.016. The same loop at delta = 0.5 does count false alarms, so it can.
    """
    rng = random.Random(20_261_218)
    detector = Adwin(DELTA, one_sided=True)
    false_alarms = 0
    for _ in range(2_000_000):
        detector.update(1.0 if rng.random() < 0.06 else 0.0)
        false_alarms += detector.drift_detected
    assert false_alarms == 0 and detector.width == 2_000_000
    assert detector.estimation == pytest.approx(0.06, abs=0.001)
    loose = Adwin(0.5, one_sided=True)
    assert len(_detections(loose, _bernoulli(random.Random(1), 0.06, 200_000))) > 0


class _Predictions:
    """A Redis stand-in for the join's one MGET: each record id's stored prediction (model version, label 1)."""

    def __init__(self) -> None:
        self.version: dict[str, int] = {}

    async def mget(self, keys: list[bytes]) -> list[bytes | None]:
        ids = [key.decode().rsplit(":", 1)[1] for key in keys]
        # record n's event time is n * 10 ms, so the change time tells which record it names
        return [orjson.dumps({"id": i, "version": self.version[i], "label": 1, "event_time": int(i) * 10}) for i in ids]


def test_the_label_join_detects_a_rise_per_version_and_exports_it() -> None:
    registry = CollectorRegistry()
    redis = _Predictions()
    join = LabelJoin(redis, RedisSettings(), ProcessorMetrics(registry), wall_clock=lambda: 1_700_000_000.0)  # type: ignore[arg-type]
    rng = random.Random(5)
    errors = [(3, e) for e in _bernoulli(rng, 0.06, 6000) + _bernoulli(rng, 0.3, 1000)]
    errors += [(4, e) for e in _bernoulli(rng, 0.06, 3000)]  # the next version: a fresh detector, no rise

    def sample(name: str, version: int) -> float | None:
        return registry.get_sample_value(f"driftline_error_rate_{name}", {"version": str(version)})

    async def scenario() -> None:
        for start in range(0, len(errors), 500):
            events = []
            for n, (version, wrong) in enumerate(errors[start : start + 500], start=start):
                redis.version[str(n)] = version
                events.append(encode_label_event(str(n), 0 if wrong else 1, 0))
            assert await join.handle(events)
            if start == 0:  # the counter exists before its first rise, so that increase() sees that one
                assert sample("change_total", 3) == 0.0

    asyncio.run(scenario())
    assert sample("change_total", 3) == 1.0 and sample("change_total", 4) == 0.0
    position = sample("change_position", 3)
    assert position is not None and abs(position - 6000) <= 200
    # the change is dated by the event time of the labeled record at its position (version 3's labels are 0..6999)
    assert sample("change_time_seconds", 3) == pytest.approx(position * 0.010)
    assert sample("change_position", 4) is None
    assert sample("estimate", 3) == pytest.approx(0.3, abs=0.1)
    assert sample("estimate", 4) == pytest.approx(0.06, abs=0.02)
