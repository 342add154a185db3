"""`driftline report`: an HTML page of a run, with PNG plots drawn from Prometheus's HTTP API.

Throughput, latency quantiles, PSI per feature with the thresholds, labeled accuracy by model version with the
swaps marked, dead letters by reason, and the registry's versions with their test metrics.
"""

from __future__ import annotations

import html
import json
import time
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from driftline.errors import DriftlineError
from driftline.registry import Registry

PSI_WATCH, PSI_DRIFT = 0.1, 0.25


@dataclass(frozen=True)
class Panel:
    file: str
    title: str
    unit: str
    queries: tuple[tuple[str, str], ...]  # (expr, legend label key or literal name)
    lines: tuple[float, ...] = ()


PANELS = (
    Panel("throughput.png", "Throughput", "records/s",
          (('sum by (outcome) (rate(driftline_records_total[30s]))', "outcome"),)),
    Panel("latency.png", "End-to-end latency", "seconds", tuple(
        (f"histogram_quantile({q}, sum by (le) (rate(driftline_end_to_end_latency_seconds_bucket[30s])))", f"p{p}")
        for q, p in ((0.5, 50), (0.95, 95), (0.99, 99)))),
    Panel("psi.png", "Feature drift (PSI)", "PSI",
          (("max by (feature) (driftline_feature_drift_psi)", "feature"),), (PSI_WATCH, PSI_DRIFT)),
    Panel("accuracy.png", "Labeled accuracy by model version", "accuracy",
          (("avg by (version) (driftline_labeled_accuracy)", "version"),)),
    Panel("dead_letters.png", "Dead letters by reason", "records/s",
          (("sum by (reason) (rate(driftline_dead_letters_total[1m]))", "reason"),)),
)  # fmt: skip
SWAPS = 'sum(changes(driftline_model_swaps_total{outcome="succeeded"}[10s])) > 0'


class Prometheus:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        query = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/query_range?{query}", timeout=30) as response:
                body = json.loads(response.read())
        except OSError as exc:
            raise DriftlineError(f"cannot query Prometheus at {self.url}: {exc}") from exc
        if body.get("status") != "success":
            raise DriftlineError(f"Prometheus refused {expr!r}: {body.get('error')}")
        return list(body["data"]["result"])


Event = tuple[float, str]  # (epoch seconds, what happened): the demo's onset, alert, promotions, swaps


def _plot(panel: Panel, series: list[tuple[str, list[float], list[float]]], swaps: list[float], path: Path,
          events: Sequence[Event] = ()) -> None:  # fmt: skip
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 3.2), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    t0 = min((xs[0] for _, xs, _ in series if xs), default=0.0)
    for label, xs, ys in series:
        axes.plot([(x - t0) / 60 for x in xs], ys, label=label, linewidth=1.2)
    for level in panel.lines:
        axes.axhline(level, color="red" if level == PSI_DRIFT else "orange", linestyle="--", linewidth=1)
    for swap in swaps:
        axes.axvline((swap - t0) / 60, color="grey", linestyle=":", linewidth=1)
    for when, label in events:
        x = (when - t0) / 60
        axes.axvline(x, color="purple", linestyle="-.", linewidth=0.8)
        axes.annotate(label, (x, 1), xycoords=("data", "axes fraction"), rotation=90, fontsize=7, va="top",
                      ha="right", color="purple")  # fmt: skip
    axes.set_title(panel.title)
    axes.set_xlabel("minutes")
    axes.set_ylabel(panel.unit)
    if series:
        axes.legend(fontsize="small", ncol=4, loc="upper left")
    figure.tight_layout()
    figure.savefig(path)


def write_report(prometheus: Prometheus, registry: Registry, out: Path, *, minutes: float,
                 events: Sequence[Event] = ()) -> Path:  # fmt: skip
    """Render the last ``minutes`` of metrics and the registry's versions into ``out/index.html``; ``events`` are
    marked on every plot."""
    out.mkdir(parents=True, exist_ok=True)
    end = time.time()
    start = end - minutes * 60
    step = max(5.0, minutes * 60 / 400)
    swaps = [float(t) for r in prometheus.range(SWAPS, start, end, step) for t, _ in r["values"]]
    sections = []
    for panel in PANELS:
        series = []
        for expr, key in panel.queries:
            for result in prometheus.range(expr, start, end, step):
                label = result["metric"].get(key, key)
                xs, ys = _with_gaps([(float(t), float(v)) for t, v in result["values"]], step)
                series.append((f"{label}", xs, ys))
        _plot(panel, series, swaps, out / panel.file, events)
        note = "" if series else "<p><em>no data in this window</em></p>"
        sections.append(f"<h2>{html.escape(panel.title)}</h2>{note}<img src='{panel.file}' alt='{panel.title}'>")
    rows = "".join(
        f"<tr><td>{v.version}{' (production)' if v.is_production else ''}</td><td>{html.escape(str(v.created_at))}"
        f"</td><td><code>{v.fingerprint[:12]}</code></td>"
        + "".join(f"<td>{_num(v.metrics.get(m))}</td>" for m in ("accuracy", "roc_auc", "log_loss", "f1"))
        + "</tr>"
        for v in registry.versions()
    )
    generated = datetime.now(UTC).isoformat(timespec="seconds")
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>Driftline run report</title>
<style>body{{font-family:sans-serif;max-width:960px;margin:2em auto}}td,th{{padding:2px 10px;text-align:left}}</style>
</head><body><h1>Driftline run report</h1>
<p>Last {minutes:.0f} minutes, generated {generated} from {html.escape(prometheus.url)}.
Dotted vertical lines mark model swaps, dash-dotted ones the run's events (onset, alert, promotions, every worker
serving); dashed lines the PSI thresholds ({PSI_WATCH} watch, {PSI_DRIFT} drift).</p>
{"".join(sections)}
<h2>Model versions ({html.escape(registry.model)})</h2>
<table><tr><th>version</th><th>created</th><th>fingerprint</th><th>accuracy</th><th>ROC AUC</th><th>log loss</th>
<th>F1</th></tr>{rows}</table></body></html>"""
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


def _with_gaps(points: list[tuple[float, float]], step: float) -> tuple[list[float], list[float]]:
    """Points as x and y lists, with a NaN wherever samples are missing, so no line is drawn across the gap."""
    xs: list[float] = []
    ys: list[float] = []
    for t, v in points:
        if xs and t - xs[-1] > 2.5 * step:
            xs.append(xs[-1] + step)
            ys.append(float("nan"))
        xs.append(t)
        ys.append(v)
    return xs, ys


def _num(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) else "-"
