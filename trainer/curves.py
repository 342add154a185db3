"""A run's plots as PNGs: the training curves (loss and accuracy per epoch, training split against validation
split), and the test split's evaluation (the confusion matrix and the ROC curves, one-vs-rest for many classes).

Drawn on a ``matplotlib.figure.Figure`` with its own Agg canvas, never through ``pyplot``: pyplot keeps global
figure state and picks a GUI backend, which a headless trainer service must not depend on or change.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

__all__ = ["plot_curves", "plot_evaluation"]

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
    return _save(figure, path, title, "training curves")


def plot_evaluation(metrics: Mapping[str, Any], path: str | Path, *, title: str = "") -> Path:
    """Write ``path`` (PNG) from test metrics as :func:`trainer.evaluation.evaluate` gives them: the confusion
    matrix (counts, shaded by the share of each true class's rows) and, when ``metrics`` has ``roc_curves``, the
    ROC curves with each class's AUC. Returns ``path``."""
    path = Path(path)
    if "confusion_matrix" not in metrics:
        raise ValueError(f"metrics have no confusion matrix; found keys {sorted(metrics)}")
    counts = np.asarray(metrics["confusion_matrix"], dtype=np.int64)
    names = list(metrics.get("per_class") or [str(i) for i in range(len(counts))])
    curves: Mapping[str, Mapping[str, Sequence[float]]] = metrics.get("roc_curves") or {}
    panels = 2 if curves else 1
    side = max(4.0, 0.45 * len(names) + 2.0)
    figure = Figure(figsize=(side * panels + 0.5, side), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, panels, 1)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    axes.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    for (row, column), count in np.ndenumerate(counts):
        colour = "white" if shares[row, column] > 0.5 else "black"
        axes.text(column, row, str(count), ha="center", va="center", fontsize="small", color=colour)
    axes.set_xticks(range(len(names)), names)
    axes.set_yticks(range(len(names)), names)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    axes.set_title(f"confusion matrix ({int(counts.sum())} test rows)")
    if curves:
        roc = figure.add_subplot(1, panels, 2)
        per_class = metrics.get("per_class") or {}
        for name, curve in curves.items():
            auc = (per_class.get(name) or {}).get("roc_auc")
            label = f"{name} (AUC {auc:.3f})" if isinstance(auc, float) and np.isfinite(auc) else name
            roc.plot(curve["fpr"], curve["tpr"], linewidth=1.2, label=label)
        roc.plot([0, 1], [0, 1], color="grey", linewidth=0.8, linestyle=":")
        roc.set_xlabel("false positive rate")
        roc.set_ylabel("true positive rate")
        roc.set_title("ROC, one class against the rest" if len(curves) > 1 else "ROC")
        roc.set_aspect("equal")
        roc.grid(True, alpha=0.3)
        roc.legend(loc="lower right", fontsize="x-small")
    return _save(figure, path, title, "evaluation plot")


def _save(figure: Figure, path: Path, title: str, what: str) -> Path:
    """Title the figure (if ``title``), write it to ``path`` as PNG (folders made), log it, return ``path``."""
    if title:
        figure.suptitle(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    logger.info("%s written path=%s", what, path)
    return path
