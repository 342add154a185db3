"""Progress bars draw on an interactive terminal only; nested bars share one display; items pass through."""

from __future__ import annotations

import io
import re

from rich.console import Console

from driftline.progress import progress_bar, tracked

CONTROL = re.compile(r"\x1b\[|\r")


def test_a_terminal_gets_a_bar_that_counts() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    with progress_bar("epochs", total=5, console=console) as advance:
        for _ in range(5):
            advance(1)
    drawn = out.getvalue()
    assert CONTROL.search(drawn) and "epochs" in drawn and "5/5" in drawn


def test_anything_but_a_terminal_gets_nothing_at_all() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, force_interactive=False)
    with progress_bar("epochs", total=5, console=console) as advance:
        advance(5)
    assert out.getvalue() == ""


def test_a_bar_started_inside_another_joins_its_display() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    with progress_bar("search trials", total=2, console=console) as trial:
        for _ in range(2):
            with progress_bar("epochs", total=3) as epoch:  # no LiveError: one display for both
                epoch(3)
            trial(1)
    drawn = out.getvalue()
    assert "search trials" in drawn and "epochs" in drawn


def test_tracked_yields_every_item_in_order_off_a_terminal() -> None:
    assert list(tracked(iter(range(7)), "reading")) == list(range(7))  # pytest's stderr is not a terminal
