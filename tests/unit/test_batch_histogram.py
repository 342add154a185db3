"""BatchHistogram: a batch of observations at once, exposed exactly as prometheus_client's Histogram would."""

from __future__ import annotations

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from processors.metrics import BatchHistogram

pytestmark = pytest.mark.unit

BUCKETS = (0.002, 0.005, 0.01, 0.05, 0.1, 1.0, 10.0)
NAME = "latency_seconds"


def _exposition(registry: CollectorRegistry) -> list[str]:
    """The exposition's lines but the sum (compared apart: numpy sums in another order) and ``_created`` (which
    BatchHistogram does not expose)."""
    lines = generate_latest(registry).decode().splitlines()
    return [line for line in lines if f"{NAME}_created" not in line and not line.startswith(f"{NAME}_sum")]


def test_exposition_equals_prometheus_clients_histogram_fed_one_by_one() -> None:
    rng = np.random.default_rng(7)
    batches = [rng.exponential(0.05, size) for size in (1, 80, 0, 333)]
    batches.append(np.array(BUCKETS))  # values on a bound belong to that bound's bucket (le is inclusive)
    batches.append(np.array([0.0, 1e-9, 25.0, 1e6]))  # below every bound, and above every one (+Inf only)
    theirs_registry, ours_registry = CollectorRegistry(), CollectorRegistry()
    theirs = Histogram(NAME, "doc", buckets=BUCKETS, registry=theirs_registry)
    ours = BatchHistogram(NAME, "doc", buckets=BUCKETS, registry=ours_registry)
    for batch in batches:
        for value in batch.tolist():
            theirs.observe(value)
        ours.observe_many(batch)
    lines = _exposition(ours_registry)
    assert lines == _exposition(theirs_registry)
    total = sum(len(b) for b in batches)
    assert f'{NAME}_bucket{{le="+Inf"}} {float(total)}' in lines
    assert f'{NAME}_bucket{{le="0.05"}} ' in "\n".join(lines)
    assert ours_registry.get_sample_value(f"{NAME}_count") == total
    assert ours_registry.get_sample_value(f"{NAME}_sum") == pytest.approx(
        theirs_registry.get_sample_value(f"{NAME}_sum"), rel=1e-12
    )


def test_an_empty_batch_changes_nothing_and_a_fresh_histogram_reads_zero() -> None:
    registry = CollectorRegistry()
    hist = BatchHistogram(NAME, "doc", buckets=BUCKETS, registry=registry)
    hist.observe_many(np.array([]))
    assert registry.get_sample_value(f"{NAME}_count") == 0
    assert registry.get_sample_value(f"{NAME}_bucket", {"le": "+Inf"}) == 0
    assert registry.get_sample_value(f"{NAME}_sum") == 0


@pytest.mark.parametrize("buckets", [(), (0.1, 0.1), (0.5, 0.1), (0.1, float("inf"))])
def test_buckets_must_be_finite_and_increasing(buckets: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="finite and increasing"):
        BatchHistogram(NAME, "doc", buckets=buckets, registry=CollectorRegistry())
