"""Progress bars for long work (training epochs, search trials, records read), on an interactive terminal only.

On a terminal a bar is drawn on stderr (rich) and removed when its work ends; anywhere else (a pipe, a log file, CI)
nothing is written at all, so logs carry no control characters. Bars started while another is shown join its
display (a search's trials and each trial's epochs), since rich draws one live display at a time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from typing import TypeVar

from rich.console import Console
from rich.errors import LiveError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

T = TypeVar("T")
Advance = Callable[[float], None]

# The display the bars of this thread (and its tasks) join while one is shown.
_SHOWN: ContextVar[Progress | None] = ContextVar("driftline_progress", default=None)


def _skip(amount: float) -> None:
    """The advance of a bar that is not drawn."""


@contextlib.contextmanager
def progress_bar(description: str, total: float | None = None, *, console: Console | None = None) -> Iterator[Advance]:
    """A bar for ``total`` steps (None: a count without an end); yields ``advance(steps)``. Draws only when
    ``console`` (default: stderr) is an interactive terminal."""
    shown = _SHOWN.get()
    if shown is not None:
        task = shown.add_task(description, total=total)
        try:
            yield lambda amount: shown.advance(task, amount)
        finally:
            shown.remove_task(task)
        return
    console = console or Console(stderr=True)
    if not console.is_terminal:
        yield _skip
        return
    display = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=True,
    )  # fmt: skip
    try:
        display.start()
    except LiveError:  # another thread's display is up: this work goes unshown
        yield _skip
        return
    token = _SHOWN.set(display)
    try:
        task = display.add_task(description, total=total)
        yield lambda amount: display.advance(task, amount)
    finally:
        _SHOWN.reset(token)
        display.stop()


def tracked(items: Iterable[T], description: str, total: float | None = None) -> Iterator[T]:
    """``items``, one at a time, advancing a bar as they are taken."""
    with progress_bar(description, total) as advance:
        for item in items:
            yield item
            advance(1)
