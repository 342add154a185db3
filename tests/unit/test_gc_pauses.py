"""The worker's garbage-collection pauses as a histogram, per generation."""

import gc

from prometheus_client import CollectorRegistry

from processors.metrics import ProcessorMetrics, watch_gc


def test_every_collection_is_timed_by_generation() -> None:
    registry = CollectorRegistry()
    metrics = ProcessorMetrics(registry)
    stop = watch_gc(metrics.gc_pause_seconds)
    try:
        gc.collect(0)
        gc.collect(2)
        gc.collect(2)
    finally:
        stop()
    count = registry.get_sample_value
    assert count("driftline_gc_pause_seconds_count", {"generation": "2"}) == 2
    assert (count("driftline_gc_pause_seconds_count", {"generation": "0"}) or 0) >= 1
    assert (count("driftline_gc_pause_seconds_sum", {"generation": "2"}) or 0) > 0
    gc.collect(2)  # stopped: no longer observed
    assert count("driftline_gc_pause_seconds_count", {"generation": "2"}) == 2
