"""The trainer and registry dashboard: retrains and why, how long, what they scored, which version serves where."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard, Row, TimePicker
from grafana_foundation_sdk.models import dashboard as model

from monitoring.dashboards.kit import (
    TAG,
    Step,
    above,
    alert_links,
    annotation,
    datasource_variable,
    graph,
    grid,
    number_panels,
    query,
    query_variable,
    single,
    steps,
    url_constants,
)
from monitoring.dashboards.rules import Thresholds

UID = "driftline-trainer"
V = 'version=~"$version"'
TRAINER = 'job="driftline-trainer"'


def build(rules: Thresholds) -> model.Dashboard:
    board = (
        Dashboard("Driftline trainer and registry").uid(UID).tags([TAG]).editable()
        .description("The trainer's retrains (triggered by alerts, gated champion against challenger), their "
                     "holdout metrics, and the registry's versions as the workers serve them (DESIGN sections 4, 7, "
                     "8). Generated: python -m monitoring.dashboards")
        .tooltip(model.DashboardCursorSync.CROSSHAIR).timezone("browser").time("now-3h", "now").refresh("10s")
        .timepicker(TimePicker().refresh_intervals(["10s", "30s", "1m", "5m"]))
        .with_variable(datasource_variable())
        .with_variable(query_variable("version", "Model version", "label_values(driftline_model_eval, version)",
                                      "Versions the last retrain compared (champion and challenger)"))
        .links(alert_links())
        .annotation(annotation("Promotions", 'sum(increase(driftline_retrains_total{outcome="promoted"}[1m])) > 0',
                               "green"))
        .annotation(annotation("Failed retrains", 'sum(increase(driftline_retrains_total{outcome="failed"}[1m])) > 0',
                               "red"))
    )  # fmt: skip
    for constant in url_constants():
        board.with_variable(constant)
    _retrains(board, rules)
    _evaluation(board)
    _serving(board, rules)
    _trainer_process(board)
    return number_panels(board.build())


def _retrains(board: Dashboard, rules: Thresholds) -> None:
    board.with_row(Row("Retrains"))
    board.with_panel(single(
        "Retrains in the time range", "Retrains the trainer finished, by outcome: promoted (the challenger won the "
        "gate), rejected (the champion stayed), failed, skipped (a cooldown or one already running).", "short",
        query("sum by (outcome) (increase(driftline_retrains_total[$__range]))", "{{outcome}}"),
        width=12, height=6,
    ))  # fmt: skip
    board.with_panel(single(
        "Trainer up", "Whether Prometheus scrapes the trainer's /metrics (it also runs the retrain webhook).",
        "short", query(f"up{{{TRAINER}}}", "{{instance}}"), width=4, height=6,
        alerts=rules.alerts_using("up", also=TRAINER, without="driftline-processor"),
    ))  # fmt: skip
    board.with_panel(single(
        "Retrain duration", "Mean and 90th percentile of a retrain over the time range.", "s",
        query("sum(increase(driftline_retrain_duration_seconds_sum[$__range])) / "
              "sum(increase(driftline_retrain_duration_seconds_count[$__range]))", "mean"),
        query("histogram_quantile(0.9, sum by (le) (increase(driftline_retrain_duration_seconds_bucket[$__range])))",
              "p90"), width=8, height=6,
    ))  # fmt: skip
    board.with_panel(single(
        "Failed retrains (15m)", "Retrains that ended in an error in the last 15 minutes (the trainer's /status "
        "says why).", "short", query('sum(increase(driftline_retrains_total{outcome="failed"}[15m]))', "failed"),
        width=12, height=5, alerts=["DriftlineRetrainFailed"],
    ))  # fmt: skip
    board.with_panel(single(
        "Rejected retrains (1h)", "Retrains in the last hour whose challenger lost the gate; many with no promotion "
        "between them mean the loop cannot heal.", "short",
        query('sum(increase(driftline_retrains_total{outcome="rejected"}[1h]))', "rejected"), width=12, height=5,
        thresholds=above(rules.value("DriftlineRetrainsRejected", "rejected retrains"), "orange"),
        alerts=["DriftlineRetrainsRejected"],
    ))  # fmt: skip
    board.with_panel(graph(
        "Retrains by outcome", "Retrains finished per 5 minutes, by outcome.", "short",
        query("sum by (outcome) (increase(driftline_retrains_total[5m]))", "{{outcome}}"),
        alerts=rules.alerts_using("driftline_retrains_total"),
    ))  # fmt: skip
    board.with_panel(graph(
        "Alerts received by the trainer", "Alerts Alertmanager delivered to the retrain webhook per 5 minutes.",
        "short", query("sum by (alertname) (increase(driftline_alerts_received_total[5m]))", "{{alertname}}"),
        alerts=rules.alerts_using("driftline_alerts_received_total"),
    ))  # fmt: skip


def _evaluation(board: Dashboard) -> None:
    board.with_row(Row("Model evaluation"))
    board.with_panel(grid(
        "Holdout metrics at the last retrain", "Champion and challenger on the same holdout split of recent "
        "labeled data (accuracy, ROC AUC, log loss, F1).", "none",
        query(f"driftline_model_eval{{{V}}}", instant=True), width=12, height=8,
        hide=("Time", "__name__", "instance", "job"),
    ))  # fmt: skip
    board.with_panel(graph(
        "Holdout metrics over time", "Each compared version's holdout metrics as the trainer last reported them.",
        "none", query(f"max by (version, metric) (driftline_model_eval{{{V}}})", "v{{version}} {{metric}}"),
    ))  # fmt: skip


def _serving(board: Dashboard, rules: Thresholds) -> None:
    board.with_row(Row("Registry & serving"))
    board.with_panel(grid(
        "Version serving per worker", "The registry version each worker serves now, and its fingerprint.", "none",
        query("driftline_model_info == 1", instant=True), width=10,
        hide=("Time", "Value", "__name__"),
    ))  # fmt: skip
    board.with_panel(graph(
        "Workers per serving version", "A promotion moves every worker to the new version within seconds.", "short",
        query("count by (version) (driftline_model_info == 1)", "v{{version}}"), width=7,
    ))  # fmt: skip
    board.with_panel(graph(
        "Model swaps by outcome", "Swaps per 5 minutes over all workers; a failed one keeps the old model.",
        "short", query("sum by (outcome) (increase(driftline_model_swaps_total[5m]))", "{{outcome}}"), width=7,
        alerts=rules.alerts_using("driftline_model_swaps_total", also='"failed"'),
    ))  # fmt: skip
    board.with_panel(graph(
        "Serving a fallback model", "1 while a worker serves another version than production, which does not load "
        "there.", "short", query("driftline_model_fallback", "{{instance}}"), width=24, height=5,
        thresholds=steps(Step(None, "green"), Step(rules.value("DriftlineModelFallback", "production"), "red")),
        alerts=["DriftlineModelFallback"],
    ))  # fmt: skip


def _trainer_process(board: Dashboard) -> None:
    board.with_row(Row("Trainer process"))
    board.with_panel(graph(
        "Trainer memory", "Resident set size of the trainer (training holds the recent data and the model).",
        "bytes", query(f"process_resident_memory_bytes{{{TRAINER}}}", "{{instance}}"), width=8,
    ))  # fmt: skip
    board.with_panel(graph(
        "Trainer CPU", "CPU time per second (1 = one core busy).", "percentunit",
        query(f"rate(process_cpu_seconds_total{{{TRAINER}}}[$__rate_interval])", "{{instance}}"), width=8,
    ))  # fmt: skip
    board.with_panel(graph(
        "Trainer uptime", "Time since the trainer started; a drop is a restart.", "s",
        query(f"time() - process_start_time_seconds{{{TRAINER}}}", "{{instance}}"), width=8,
    ))  # fmt: skip
