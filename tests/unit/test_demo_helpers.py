from __future__ import annotations

import pytest

from demo.run import SCENARIOS, DemoOptions, Progress
from harness.scrape import latency_since, live_accuracy, quantile_ms

BUCKET = "driftline_end_to_end_latency_seconds_bucket"


def histogram(counts: dict[str, float]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(BUCKET, (("le", le),)): value for le, value in counts.items()}


def test_quantile_is_the_upper_bound_of_the_bucket_that_holds_it() -> None:
    samples = histogram({"0.01": 50, "0.05": 90, "0.1": 99, "+Inf": 100})
    assert quantile_ms(samples, 0.5) == 10
    assert quantile_ms(samples, 0.9) == 50
    assert quantile_ms(samples, 0.99) == 100
    assert quantile_ms({}, 0.5) is None


def test_recent_latency_is_the_difference_of_two_scrapes() -> None:
    before = histogram({"0.01": 50, "0.05": 90, "+Inf": 100})
    now = histogram({"0.01": 50, "0.05": 190, "+Inf": 200})  # the last 100 records were all 10-50 ms
    recent = latency_since(now, before)
    assert quantile_ms(recent, 0.5) == 50
    assert quantile_ms(latency_since(before, now), 0.5) == 10  # counters reset (a restart): the new counts stand


def test_progress_lists_what_did_not_happen() -> None:
    p = Progress()
    assert p.missing() == ["drift alert fired", "new model promoted", "every worker serving it", "accuracy recovered"]
    p.alert_fired = p.promoted_at = p.all_serving_new = p.recovered_at = 1.0
    assert p.missing() == []


def test_a_scenario_with_an_accuracy_floor_is_healed_only_above_it() -> None:
    p = Progress()
    p.alert_fired = p.promoted_at = p.all_serving_new = p.recovered_at = 1.0
    assert p.missing(0.95) == ["settled accuracy of at least 0.95 (found not measured)"]
    p.accuracy_settled = 0.93
    assert p.missing(0.95) == ["settled accuracy of at least 0.95 (found 0.930)"]
    p.accuracy_settled = 0.97
    assert p.missing(0.95) == []
    assert SCENARIOS["digits"].min_settled_accuracy == 0.95 and SCENARIOS["agrawal"].min_settled_accuracy is None
    assert DemoOptions(scenario="digits").drift_specs == "inversion"
    assert DemoOptions(scenario="digits", rate=50.0).stream_rate == 50.0


def test_live_accuracy_is_the_mean_over_the_workers_that_have_one() -> None:
    def accuracy(version: str, value: float) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        return {("driftline_labeled_accuracy", (("version", version),)): value}

    workers = {0: accuracy("2", 0.8), 1: {**accuracy("1", 0.4), **accuracy("2", 0.9)}, 2: {}}
    assert live_accuracy(workers, 2) == pytest.approx(0.85)
    assert live_accuracy(workers, 1) == 0.4
    assert live_accuracy(workers, 3) is None
