"""The demo's live view: a records/s column per worker, from the scored counter over the recent scrapes."""

from __future__ import annotations

import io
from collections import deque

from rich.console import Console

from demo.run import Progress
from demo.view import live_view, scored_per_second
from harness.scrape import Samples

SCORED = ("driftline_records_total", (("outcome", "scored"),))


def test_rate_is_the_scored_difference_over_the_span() -> None:
    assert scored_per_second({SCORED: 25_000.0}, {SCORED: 5_000.0}, 10.0) == 2_000.0
    assert scored_per_second({SCORED: 5_000.0}, {SCORED: 5_000.0}, 10.0) == 0.0


def test_no_rate_without_a_span_or_across_a_restart() -> None:
    assert scored_per_second({SCORED: 100.0}, {SCORED: 100.0}, 0.0) is None
    assert scored_per_second({SCORED: 100.0}, {}, 5.0) is None  # the worker was not scraped back then
    assert scored_per_second({SCORED: 100.0}, {SCORED: 9_000.0}, 5.0) is None  # counter reset


def test_the_view_shows_each_workers_records_per_second() -> None:
    history: deque[tuple[float, dict[int, Samples]]] = deque(
        [(100.0, {0: {SCORED: 1_000.0}, 1: {SCORED: 2_000.0}}), (104.0, {0: {SCORED: 9_000.0}, 1: {SCORED: 2_400.0}})]
    )
    out = io.StringIO()
    Console(file=out, width=200).print(live_view(Progress(), history[-1][1], history))
    lines = out.getvalue().splitlines()
    header = next(line for line in lines if "records/s" in line)
    rows = {line.split()[0]: line.split() for line in lines if line.split()[:1] in (["0"], ["1"])}
    column = header.split().index("records/s")  # the header's words line up with the row's cells here
    assert rows["0"][column] == "2,000" and rows["1"][column] == "100"
