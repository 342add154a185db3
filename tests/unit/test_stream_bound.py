"""bench/stream_table.py's machine bound: how far more workers can scale on CPUs they share with Kafka and Redis."""

import pytest

from bench.stream_table import machine_bound


def test_a_worker_and_its_services_filling_most_of_two_cpus_leave_two_workers_little_room() -> None:
    # one worker at a full core, Kafka and Redis at 0.4 together: 1.4 CPUs per worker's records, 2 CPUs in all
    assert machine_bound({"worker 0": 1.0, "kafka": 0.3, "redis": 0.1}, cpus=2) == pytest.approx(2 / 1.4)


def test_with_cpus_to_spare_the_bound_is_the_number_of_workers() -> None:
    assert machine_bound({"worker 0": 1.0, "kafka": 0.3, "redis": 0.1}, cpus=8) == 2.0
    assert machine_bound({"worker 0": 1.0, "kafka": 0.3}, cpus=8, workers=4) == 4.0


def test_no_cpu_used_is_refused() -> None:
    with pytest.raises(ValueError, match="more than 0"):
        machine_bound({"worker 0": 0.0}, cpus=2)
