"""The worker's garbage collections: their pauses as a histogram per generation, and how often they run."""

import gc
from typing import Any

from prometheus_client import CollectorRegistry

from driftline.settings import ProcessorSettings
from processors.collector import YOUNG_OBJECTS_BEFORE_COLLECTION, collect_less_often
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


def _collections_while_a_full_batch_is_alive() -> int:
    started: list[Any] = []

    def callback(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started.append(info["generation"])

    gc.collect()
    gc.callbacks.append(callback)
    try:  # a full batch's decoded records, each a dict holding a list: two tracked objects a record, all alive
        batch = [{"id": str(i), "features": [i, float(i)]} for i in range(ProcessorSettings().batch_max)]
    finally:
        gc.callbacks.remove(callback)
    assert len(batch) == ProcessorSettings().batch_max
    return len(started)


def test_a_full_batch_alive_at_once_runs_no_collection_in_a_worker_or_serve() -> None:
    saved = gc.get_threshold()
    try:
        gc.set_threshold(700, *saved[1:])  # Python's default
        assert _collections_while_a_full_batch_is_alive() >= 1
        collect_less_often()
        assert gc.get_threshold() == (YOUNG_OBJECTS_BEFORE_COLLECTION, *saved[1:])
        assert _collections_while_a_full_batch_is_alive() == 0
    finally:
        gc.set_threshold(*saved)
