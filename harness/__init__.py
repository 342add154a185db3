"""What the tests, the benchmarks and the demo share: worker processes, waiting with a deadline, reading topics and
/metrics pages back, removing a run's own topics. Never imported by the core or the services."""
