"""The Grafana dashboard: well-formed panels on the provisioned datasource, querying only metrics Driftline exports.

Whether each query returns data on a running stack is the integration tier's job (issue 6); here nothing runs.
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "monitoring" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "driftline.json"
DATASOURCE_UID = "driftline-prometheus"

# DESIGN section 8, as processors/metrics.py and trainer/metrics.py name them (counters with their _total).
COUNTERS_AND_GAUGES = {
    # processor workers
    "driftline_records_total",
    "driftline_dead_letters_total",
    "driftline_model_info",
    "driftline_model_swaps_total",
    "driftline_redis_retries_total",
    "driftline_feature_drift_psi",
    "driftline_feature_missing_ratio",
    "driftline_feature_unknown_ratio",
    "driftline_prediction_drift_psi",
    "driftline_drift_window_records",
    "driftline_labeled_accuracy",
    "driftline_labels_total",
    "driftline_assigned_partitions",
    # trainer
    "driftline_alerts_received_total",
    "driftline_retrains_total",
    "driftline_model_eval",
    # Prometheus's own per target
    "up",
}
HISTOGRAMS = {
    "driftline_batch_size",
    "driftline_inference_seconds",
    "driftline_batch_seconds",
    "driftline_end_to_end_latency_seconds",
    "driftline_gc_pause_seconds",
    "driftline_retrain_duration_seconds",
}
# Drawn by the dashboard but not exported yet: the processor is to add it (gauge per worker, labels topic, partition).
EXPECTED = {"driftline_consumer_lag"}
KNOWN = COUNTERS_AND_GAUGES | EXPECTED | {h + s for h in HISTOGRAMS for s in ("_bucket", "_sum", "_count")}

_COMMENTS = re.compile(r"#[^\n]*")
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_LABEL_LISTS = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_NAMES = re.compile(r"(?<![\w$.:])([A-Za-z_:][\w:]*)(?![\w:])(?!\s*\()")
_KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset",
             "atan2", "inf", "nan"}  # fmt: skip


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression: what is left once strings, matchers, ranges, label lists, function
    calls and keywords are taken out."""
    for pattern in (_COMMENTS, _STRINGS, _MATCHERS, _RANGES, _LABEL_LISTS):
        expr = pattern.sub(" ", expr)
    return {name for name in _NAMES.findall(expr) if name.lower() not in _KEYWORDS}


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


@pytest.fixture(scope="module")
def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = dashboard["panels"]
    assert found, "the dashboard has no panels"
    return found


def _exprs(dashboard: dict[str, Any]) -> list[str]:
    exprs = [t.get("expr", "") for p in dashboard["panels"] for t in p.get("targets", [])]
    return exprs + [a["expr"] for a in dashboard["annotations"]["list"] if "expr" in a]


def test_metric_names_extraction() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le) (rate(a_seconds_bucket{job="x", le!="+Inf"}[$__rate_interval])))'
        " / on (instance) group_left (version) b_info == 1 and ignoring (x) c_total offset 5m > bool 1e9"
        " unless sum(d) by (feature)  # e_commented"
    )
    assert metric_names(expr) == {"a_seconds_bucket", "b_info", "c_total", "d"}
    assert metric_names('absent(up{job="p"} == 1)') == {"up"}


def test_dashboard_settings(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"] and dashboard["title"]
    assert 36 <= dashboard["schemaVersion"] <= 41
    assert dashboard["refresh"] == "5s"
    assert dashboard["time"] == {"from": "now-30m", "to": "now"}


def test_datasource_is_the_provisioned_one() -> None:
    provisioned = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    assert [d["uid"] for d in provisioned["datasources"]] == [DATASOURCE_UID]


def test_every_panel_has_a_title_the_datasource_and_a_query(panels: list[dict[str, Any]]) -> None:
    for panel in panels:
        title = panel.get("title", "")
        assert title.strip(), f"panel {panel.get('id')} has no title"
        assert panel.get("datasource", {}).get("uid") == DATASOURCE_UID, title
        targets = panel.get("targets", [])
        assert any(t.get("expr", "").strip() for t in targets), f"{title}: no query"
        for target in targets:
            assert target.get("expr", "").strip(), f"{title}: target {target.get('refId')} has an empty expr"
            assert target.get("datasource", {}).get("uid", DATASOURCE_UID) == DATASOURCE_UID, title
        ref_ids = [t.get("refId") for t in targets]
        assert len(ref_ids) == len(set(ref_ids)), f"{title}: refIds repeat"


def test_queries_use_only_known_metrics(dashboard: dict[str, Any]) -> None:
    used: set[str] = set()
    for expr in _exprs(dashboard):
        names = metric_names(expr)
        assert names, f"no metric in {expr!r}"
        assert names <= KNOWN, f"unknown metric {sorted(names - KNOWN)} in {expr!r}"
        used |= names
    for histogram in HISTOGRAMS - {"driftline_batch_size"}:
        assert histogram + "_bucket" in used or histogram + "_sum" in used, f"{histogram} is not on the dashboard"


def test_panel_ids_are_unique(panels: list[dict[str, Any]]) -> None:
    ids = [p.get("id") for p in panels]
    assert all(isinstance(i, int) for i in ids)
    assert len(ids) == len(set(ids))


def test_grid_positions_fit_and_do_not_overlap(panels: list[dict[str, Any]]) -> None:
    boxes = []
    for panel in panels:
        grid = panel.get("gridPos")
        assert grid, f"{panel['title']}: no gridPos"
        x, y, w, h = (grid[k] for k in ("x", "y", "w", "h"))
        assert all(isinstance(v, int) for v in (x, y, w, h)), panel["title"]
        assert x >= 0 and y >= 0 and w > 0 and h > 0 and x + w <= 24, f"{panel['title']}: {grid}"
        boxes.append((panel["title"], x, y, w, h))
    for (a, ax, ay, aw, ah), (b, bx, by, bw, bh) in itertools.combinations(boxes, 2):
        overlap = ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah
        assert not overlap, f"panels {a!r} and {b!r} overlap"


def test_drift_panels_draw_the_watch_and_drift_thresholds(panels: list[dict[str, Any]]) -> None:
    psi_panels = [p for p in panels if any("_drift_psi" in t["expr"] for t in p["targets"])]
    assert len(psi_panels) >= 2
    for panel in psi_panels:
        defaults = panel["fieldConfig"]["defaults"]
        steps = {s["value"] for s in defaults["thresholds"]["steps"]}
        assert {0.1, 0.25} <= steps, panel["title"]
        assert defaults["custom"]["thresholdsStyle"]["mode"] != "off", panel["title"]
