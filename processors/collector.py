"""How often Python's garbage collector runs in a worker or a `driftline serve` process."""

from __future__ import annotations

import gc

# Young tracked objects (containers) before Python's collector runs; its default is 700.
YOUNG_OBJECTS_BEFORE_COLLECTION = 20_000


def collect_less_often(young: int = YOUNG_OBJECTS_BEFORE_COLLECTION) -> None:
    """A batch's Kafka records, its decoded records and a slice of label events (in `serve`, the requests waiting for
    a model call) are thousands of young objects alive at once. At Python's default threshold a large batch ran young
    collections, and every tenth of those an older one, for objects that reference counting frees anyway
    (docs/performance.md, session 18). Above a batch's peak, the collector runs only for what reference cycles leave
    behind. The older generations keep their thresholds."""
    _, middle, old = gc.get_threshold()
    gc.set_threshold(young, middle, old)
