"""Every /metrics page carries the standard process metrics, each on the registry its service built (not the
global one), so that a worker's and the trainer's memory, CPU and file descriptors are on the dashboards."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client import REGISTRY, CollectorRegistry

from processors.metrics import ProcessorMetrics
from trainer.metrics import TrainerMetrics

PROCESS_METRICS = ("process_resident_memory_bytes", "process_cpu_seconds_total", "process_open_fds",
                   "process_start_time_seconds")  # fmt: skip

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="process_* are read from /proc (Linux)")


@pytest.mark.parametrize("metrics_class", [ProcessorMetrics, TrainerMetrics], ids=lambda c: c.__name__)
def test_the_process_metrics_are_on_the_services_own_registry(
    metrics_class: Callable[[CollectorRegistry], object],
) -> None:
    registry = CollectorRegistry(auto_describe=True)
    metrics_class(registry)
    value = registry.get_sample_value
    assert (value("process_resident_memory_bytes") or 0) > 1024 * 1024
    assert (value("process_cpu_seconds_total") or 0) > 0
    assert (value("process_open_fds") or 0) >= 3  # stdin, stdout, stderr at least
    assert len(os.listdir("/proc/self/fd")) >= (value("process_open_fds") or 0) - 2
    started = value("process_start_time_seconds") or 0
    assert time.time() - 24 * 3600 < started <= time.time()
    major, minor, micro = (str(n) for n in sys.version_info[:3])
    python = {"implementation": sys.implementation.name.replace("cpython", "CPython"), "major": major,
              "minor": minor, "patchlevel": micro, "version": f"{major}.{minor}.{micro}"}  # fmt: skip
    assert value("python_info", python) == 1
    assert value("python_gc_collections_total", {"generation": "0"}) is not None


def test_two_services_in_one_process_do_not_collide() -> None:
    """Each registry gets collectors of its own: a second instance (a test, a second worker) registers cleanly (one
    registered on prometheus_client's global registry would raise "Duplicated timeseries"), and the global
    registry gains nothing."""
    before = sorted(REGISTRY._names_to_collectors)
    registries = [CollectorRegistry(), CollectorRegistry(), CollectorRegistry()]
    ProcessorMetrics(registries[0])
    ProcessorMetrics(registries[1])
    TrainerMetrics(registries[2])
    for registry in registries:
        for name in PROCESS_METRICS:
            assert registry.get_sample_value(name) is not None, name
    assert sorted(REGISTRY._names_to_collectors) == before
