"""The Driftline dashboard: the stream through the workers, drift, labels, models, Kafka and Redis, the processes."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard, Row, TimePicker
from grafana_foundation_sdk.models import dashboard as model

from monitoring.dashboards.kit import (
    TAG,
    Step,
    above,
    alert_links,
    annotation,
    below,
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

UID = "driftline-overview"
W = 'instance=~"$worker"'  # the workers picked on the dashboard
V = 'version=~"$version"'
F = 'feature=~"$feature"'
RATE = "[$__rate_interval]"
PSI_WATCH = 0.1  # DESIGN section 6's "watch" level, drawn here only (0.25 "drift" is the rules')
BOTH_JOBS = 'job=~"driftline-processor|driftline-trainer"'


def build(rules: Thresholds) -> model.Dashboard:
    board = (
        Dashboard("Driftline").uid(UID).tags([TAG]).editable()
        .description("The stream through Driftline's workers: throughput, latency, drift, labels, models, Kafka "
                     "and Redis, the processes (DESIGN section 8). Generated: python -m monitoring.dashboards")
        .tooltip(model.DashboardCursorSync.CROSSHAIR).timezone("browser").time("now-30m", "now").refresh("5s")
        .timepicker(TimePicker().refresh_intervals(["5s", "10s", "30s", "1m", "5m"]))
        .with_variable(datasource_variable())
        .with_variable(query_variable("worker", "Worker", 'label_values(up{job="driftline-processor"}, instance)',
                                      "Processor workers, by the address of their /metrics"))
        .with_variable(query_variable("version", "Model version",
                                      f"label_values(driftline_model_info{{{W}}}, version)",
                                      "Model versions the picked workers serve"))
        .with_variable(query_variable("feature", "Feature",
                                      f"label_values(driftline_feature_drift_psi{{{W}}}, feature)",
                                      "Features of the data contract, as the drift gauges name them"))
        .links(alert_links())
        .annotation(annotation("Model swaps", f'sum(increase(driftline_model_swaps_total{{outcome="succeeded", {W}}}'
                                              "[1m])) > 0", "purple"))
        .annotation(annotation("Promotions", 'sum(increase(driftline_retrains_total{outcome="promoted"}[1m])) > 0',
                               "green"))
    )  # fmt: skip
    for constant in url_constants():
        board.with_variable(constant)
    _alerts(board)
    _throughput(board, rules)
    _drift(board, rules)
    _labels_and_models(board, rules)
    _kafka_redis(board, rules)
    _process(board)
    return number_panels(board.build())


def _alerts(board: Dashboard) -> None:
    board.with_row(Row("Alerts"))
    board.with_panel(grid(
        "Firing alerts", "Driftline's alerts firing now (Prometheus's ALERTS series); the links open the rules.",
        "none", query('ALERTS{alertstate="firing", alertname=~"Driftline.*"}', instant=True),
        width=16, height=6, hide=("Time", "Value", "__name__", "alertstate"),
    ))  # fmt: skip
    board.with_panel(single(
        "Targets up", "Workers and trainer whose /metrics Prometheus scrapes now.", "short",
        query(f"sum by (job) (up{{{BOTH_JOBS}}})", "{{job}}"), width=8, height=6,
        thresholds=steps(Step(None, "red"), Step(1, "green")),
    ))  # fmt: skip


def _throughput(board: Dashboard, rules: Thresholds) -> None:
    share = rules.value("DriftlineDeadLetterRatio", "dead-letter share")
    board.with_row(Row("Throughput & latency"))
    board.with_panel(graph(
        "Throughput", "Records handled per second by the picked workers, by outcome.", "ops",
        query(f"sum by (outcome) (rate(driftline_records_total{{{W}}}{RATE}))", "{{outcome}}"),
    ))  # fmt: skip
    board.with_panel(graph(
        "End-to-end latency", "Record event time to its prediction written in Redis (quantiles over all records); "
        "DriftlineLatencyHigh fires while the p99 over all workers stays above the line.",
        "s", *(query(f"histogram_quantile({q}, sum by (le) (rate(driftline_end_to_end_latency_seconds_bucket{{{W}}}"
                     f"{RATE})))", f"p{round(q * 100)}") for q in (0.5, 0.95, 0.99)),
        thresholds=above(rules.value("DriftlineLatencyHigh", "seconds, p99")),
        alerts=rules.alerts_using("driftline_end_to_end_latency_seconds_bucket"),
    ))  # fmt: skip
    board.with_panel(graph(
        "Batch and inference time (p95)", "Per micro-batch: all of it (validate, score, write Redis, send), and "
        "preprocessing + scoring alone.", "s",
        query(f"histogram_quantile(0.95, sum by (le) (rate(driftline_batch_seconds_bucket{{{W}}}{RATE})))", "batch"),
        query(f"histogram_quantile(0.95, sum by (le) (rate(driftline_inference_seconds_bucket{{{W}}}{RATE})))",
              "inference"), width=8,
    ))  # fmt: skip
    board.with_panel(graph(
        "Records per batch", "Mean micro-batch size per worker.", "short",
        query(f"sum by (instance) (rate(driftline_batch_size_sum{{{W}}}{RATE})) / "
              f"sum by (instance) (rate(driftline_batch_size_count{{{W}}}{RATE}))", "{{instance}}"), width=8,
    ))  # fmt: skip
    board.with_panel(graph(
        "Dead letters by reason", "Records per second sent to the dead-letter topic, by validation reason.", "ops",
        query(f"sum by (reason) (rate(driftline_dead_letters_total{{{W}}}{RATE}))", "{{reason}}"), width=8,
    ))  # fmt: skip
    board.with_panel(graph(
        "Dead-letter share (5m, as alerted)", "Share of all records that went to the dead-letter topic over 5m, as "
        "DriftlineDeadLetterRatio judges it (over all workers).", "percentunit",
        query('sum(rate(driftline_records_total{outcome="dead_letter"}[5m])) / sum(rate(driftline_records_total[5m]))',
              "share"), width=24, height=6, thresholds=above(share), alerts=["DriftlineDeadLetterRatio"],
    ))  # fmt: skip


def _drift(board: Dashboard, rules: Thresholds) -> None:
    fill = rules.value("DriftlineFeatureDrift", "drift window")
    psi = rules.value("DriftlineFeatureDrift", "PSI")
    prediction_psi = rules.value("DriftlinePredictionDrift", "PSI")
    confidence_psi = rules.value("DriftlinePredictionConfidenceDrift", "PSI")
    full = f"and on (job, instance) driftline_drift_window_records >= {fill:g}"
    board.with_row(Row("Model & drift"))
    board.with_panel(graph(
        "Feature drift (PSI)", "Highest PSI of each feature over the picked workers whose drift window is full "
        "enough, as DriftlineFeatureDrift judges it. An image model's features are its per-image statistics "
        "(image.mean_intensity, image.ink_ratio, image.contrast).", "none",
        query(f"max by (feature) (driftline_feature_drift_psi{{{W}, {F}}} {full})", "{{feature}}"),
        thresholds=steps(Step(None, "green"), Step(PSI_WATCH, "orange"), Step(psi, "red")),
        alerts=["DriftlineFeatureDrift"],
    ))  # fmt: skip
    board.with_panel(graph(
        "Prediction drift (PSI)", "PSI of the scores per worker whose drift window is full enough.", "none",
        query(f"driftline_prediction_drift_psi{{{W}}} {full}", "{{instance}}"), width=6,
        thresholds=steps(Step(None, "green"), Step(PSI_WATCH, "orange"), Step(prediction_psi, "red")),
        alerts=["DriftlinePredictionDrift"],
    ))  # fmt: skip
    board.with_panel(graph(
        "Confidence drift (PSI)", "PSI of the predictions' confidence (the largest class probability) per worker "
        "whose drift window is full enough, as DriftlinePredictionConfidenceDrift judges it.", "none",
        query(f"driftline_prediction_confidence_psi{{{W}}} {full}", "{{instance}}"), width=6,
        thresholds=steps(Step(None, "green"), Step(PSI_WATCH, "orange"), Step(confidence_psi, "red")),
        alerts=["DriftlinePredictionConfidenceDrift"],
    ))  # fmt: skip
    board.with_panel(graph(
        "Drift window fill", "Records in each worker's drift window; the drift rules count a worker from the line "
        "up.", "short", query(f"driftline_drift_window_records{{{W}}}", "{{instance}}"), width=6,
        thresholds=steps(Step(None, "blue"), Step(fill, "green")), alerts=["DriftlineFeatureDrift"],
    ))  # fmt: skip
    board.with_panel(graph(
        "Missing and unknown-category share", "Over the drift window, the highest over the picked workers.",
        "percentunit",
        query(f"max by (feature) (driftline_feature_missing_ratio{{{W}, {F}}})", "missing {{feature}}"),
        query(f"max by (feature) (driftline_feature_unknown_ratio{{{W}, {F}}})", "unknown {{feature}}"), width=9,
    ))  # fmt: skip
    board.with_panel(graph(
        "Error rate (ADWIN) and rises detected", "Each version's labeled error rate over the change detector's "
        "window; rises it confirmed per minute (DriftlineErrorRateChange fires on one).", "percentunit",
        query(f"max by (version) (driftline_error_rate_estimate{{{W}, {V}}})", "error rate v{{version}}"),
        query(f"sum by (version) (increase(driftline_error_rate_change_total{{{W}, {V}}}[1m]))",
              "rises/min v{{version}}"), width=9, alerts=["DriftlineErrorRateChange"],
    ))  # fmt: skip


def _labels_and_models(board: Dashboard, rules: Thresholds) -> None:
    accuracy = rules.value("DriftlineAccuracyDrop", "accuracy")
    board.with_row(Row("Labels & accuracy"))
    board.with_panel(graph(
        "Labeled accuracy by model version", "Rolling accuracy on labeled records, averaged over the picked workers; "
        "'serving' counts only workers that serve the version now, as DriftlineAccuracyDrop does.", "percentunit",
        query(f"avg by (version) (driftline_labeled_accuracy{{{W}, {V}}})", "v{{version}}"),
        query(f"avg by (version) (driftline_labeled_accuracy{{{W}, {V}}} and on (job, instance, version) "
              "driftline_model_info == 1)", "v{{version}} serving"),
        thresholds=below(accuracy), alerts=["DriftlineAccuracyDrop"], min_zero=False,
    ))  # fmt: skip
    board.with_panel(graph(
        "Labels joined", "Label events per second joined with their stored prediction (matched) or not.", "ops",
        query(f"sum by (outcome) (rate(driftline_labels_total{{{W}}}{RATE}))", "{{outcome}}"),
    ))  # fmt: skip
    board.with_row(Row("Models"))
    board.with_panel(grid(
        "Model version per worker", "The version each picked worker serves now.", "none",
        query(f"driftline_model_info{{{W}, {V}}} == 1", instant=True), width=10,
        hide=("Time", "Value", "__name__"),
    ))  # fmt: skip
    board.with_panel(graph(
        "Workers per serving version", "How many of the picked workers serve each version.", "short",
        query(f"count by (version) (driftline_model_info{{{W}, {V}}} == 1)", "v{{version}}"), width=7,
    ))  # fmt: skip
    board.with_panel(graph(
        "Model swaps", "Swaps per minute on the picked workers, by outcome; a failed one keeps the old model.",
        "short", query(f"sum by (outcome) (increase(driftline_model_swaps_total{{{W}}}[1m]))", "{{outcome}}"),
        width=7, alerts=rules.alerts_using("driftline_model_swaps_total", also='"failed"'),
    ))  # fmt: skip
    board.with_panel(graph(
        "Serving a fallback model", "1 while a worker serves another version than production, which does not load "
        "there (its log says why).", "short", query(f"driftline_model_fallback{{{W}}}", "{{instance}}"),
        width=24, height=5, thresholds=above(rules.value("DriftlineModelFallback", "production")),
        alerts=["DriftlineModelFallback"],
    ))  # fmt: skip


def _kafka_redis(board: Dashboard, rules: Thresholds) -> None:
    stalled = rules.value("DriftlineProcessorStalled", "seconds")
    board.with_row(Row("Kafka & Redis health"))
    board.with_panel(graph(
        "Consumer group lag", "Records between each processor group's committed offset and the log end, per topic "
        "(measured by the trainer from committed offsets: it outlives any worker).", "short",
        query("sum by (group, topic) (driftline_consumer_group_lag)", "{{group}} {{topic}}"),
        thresholds=above(rules.value("DriftlineLagGrowing", "records behind"), "orange"),
        alerts=rules.alerts_using("driftline_consumer_group_lag"),
    ))  # fmt: skip
    board.with_panel(graph(
        "Lag per assigned partition", "Records behind the log end as each picked worker sees its own partitions.",
        "short", query(f"sum by (instance, topic) (driftline_consumer_lag{{{W}}})", "{{instance}} {{topic}}"),
    ))  # fmt: skip
    board.with_panel(graph(
        "Since the consume loop last polled", "Seconds since each worker's consume loop last came back for records; "
        "DriftlineProcessorStalled fires above the line.", "s",
        query(f"time() - driftline_consumer_last_poll_timestamp_seconds{{{W}}}", "{{instance}} {{topic}}"),
        width=6, thresholds=above(stalled), alerts=["DriftlineProcessorStalled"],
    ))  # fmt: skip
    board.with_panel(graph(
        "Assigned partitions", "Partitions of each topic assigned to each picked worker.", "short",
        query(f"driftline_assigned_partitions{{{W}}}", "{{instance}} {{topic}}"), width=6,
    ))  # fmt: skip
    board.with_panel(graph(
        "Redis write retries", "Failed Redis writes retried per second (the batch is not acknowledged until one "
        "succeeds).", "ops", query(f"sum by (instance) (rate(driftline_redis_retries_total{{{W}}}{RATE}))",
                                   "{{instance}}"), width=6,
    ))  # fmt: skip
    board.with_panel(graph(
        "Lag readings failed", "The trainer's lag readings that failed per second (Kafka out of reach: the group "
        "lag above stops updating).", "ops",
        query(f"sum(rate(driftline_consumer_group_lag_failures_total{RATE}))", "failed"), width=6,
    ))  # fmt: skip


def _process(board: Dashboard) -> None:
    mine = f'{{job="driftline-processor", {W}}}'
    trainer = '{job="driftline-trainer"}'

    def both(metric: str, wrap: str = "{}") -> str:
        return f"{wrap.format(metric + mine)} or {wrap.format(metric + trainer)}"

    board.with_row(Row("Process"))
    board.with_panel(graph(
        "Resident memory", "Resident set size of each worker and the trainer.", "bytes",
        query(both("process_resident_memory_bytes"), "{{job}} {{instance}}"), width=8,
    ))  # fmt: skip
    board.with_panel(graph(
        "CPU", "CPU time per second (1 = one core busy).", "percentunit",
        query(both("process_cpu_seconds_total", "rate({}" + RATE + ")"), "{{job}} {{instance}}"), width=8,
    ))  # fmt: skip
    board.with_panel(graph(
        "Open file descriptors", "Sockets and files each process holds open.", "short",
        query(both("process_open_fds"), "{{job}} {{instance}}"), width=8,
    ))  # fmt: skip
    board.with_panel(graph(
        "Uptime", "Time since each process started; a drop is a restart.", "s",
        query(both("process_start_time_seconds", "time() - {}"), "{{job}} {{instance}}"), width=8,
    ))  # fmt: skip
    board.with_panel(graph(
        "Garbage-collection pauses (p99)", "Each collection stops a worker's event loop.", "s",
        query(f"histogram_quantile(0.99, sum by (le, generation) (rate(driftline_gc_pause_seconds_bucket{{{W}}}"
              f"{RATE})))", "gen {{generation}}"), width=16,
    ))  # fmt: skip
