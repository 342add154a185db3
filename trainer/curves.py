"""Training curves as a PNG: loss and accuracy per epoch, training split against validation split.

Drawn on a ``matplotlib.figure.Figure`` with its own Agg canvas, never through ``pyplot``: pyplot keeps global
figure state and picks a GUI backend, which a headless trainer service must not depend on or change.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

__all__ = ["plot_curves"]

logger = logging.getLogger(__name__)

_PANELS = (("loss", "loss"), ("accuracy", "accuracy"))


def plot_curves(
    history: Mapping[str, Sequence[float]],
    path: str | Path,
    *,
    title: str = "",
    best_epoch: int | None = None,
) -> Path:
    """Write ``path`` (PNG) with one panel per metric present in ``history`` (Keras ``History.history``
    keys: ``loss``, ``val_loss``, ``accuracy``, ``val_accuracy``). ``best_epoch`` (1-based) is marked: the
    weights early stopping kept. Returns ``path``."""
    path = Path(path)
    panels = [(key, label) for key, label in _PANELS if key in history or f"val_{key}" in history]
    if not panels:
        raise ValueError(f"history has no loss or accuracy series; found keys {sorted(history)}")
    figure = Figure(figsize=(5.0 * len(panels), 3.8), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)  # attaches itself as the figure's canvas
    for i, (key, label) in enumerate(panels):
        axes = figure.add_subplot(1, len(panels), i + 1)
        for series, name, style in ((key, "train", "-"), (f"val_{key}", "validation", "--")):
            values = list(history.get(series, ()))
            if values:
                axes.plot(range(1, len(values) + 1), values, style, marker="o", markersize=3, label=name)
        if best_epoch is not None:
            axes.axvline(best_epoch, color="grey", linewidth=0.8, linestyle=":", label=f"best epoch {best_epoch}")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_xlabel("epoch")
        axes.set_ylabel(label)
        axes.set_title(label)
        axes.grid(True, alpha=0.3)
        axes.legend(loc="best", fontsize="small")
    if title:
        figure.suptitle(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    logger.info("training curves written path=%s", path)
    return path
