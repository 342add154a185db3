"""`make bench-stream`'s table: every figure of one run beside its ceiling or baseline, and its target."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

# What the stream benchmark should show (issue 20). Ratios are within one run; latencies are p99 at that rate.
TARGETS: dict[str, float] = {
    "one_worker_of_kafka_consumer": 0.5,  # one worker's rate ≥ half Kafka's own consumer's
    "two_workers_of_one": 1.8,  # two workers' rate ≥ 1.8 times one's
    "cold_start_seconds": 3.0,  # ≤
    "rss_mb": 300.0,  # ≤
    "p99_ms_at_5000": 15.0,  # ≤
    "p99_ms_at_20000": 50.0,  # ≤
}


def machine_bound(one_worker_cpu: dict[str, float], cpus: int, workers: int = 2) -> float:
    """The most ``workers`` workers can drain, as a multiple of one, on ``cpus`` CPUs shared with Kafka and Redis.

    ``one_worker_cpu`` is the share of a CPU each process (the worker, Kafka, Redis) used while one worker drained:
    their sum is the CPUs one worker's records cost the machine. More workers scale their records' cost with them
    (each record is fetched, written and produced again), so together they can go no faster than ``cpus`` over that
    sum; and no faster than ``workers`` times one, a worker being one thread's work.
    """
    used = sum(one_worker_cpu.values())
    if used <= 0:
        raise ValueError(f"expected CPU shares that add up to more than 0, found {one_worker_cpu}")
    return min(float(workers), cpus / used)


def _verdict(value: float, target: float, *, at_least: bool) -> str:
    met = value >= target if at_least else value <= target
    verdict = "[green]met[/green]" if met else "[red]missed[/red]"
    return f"{'≥' if at_least else '≤'} {target:g}: {verdict}"


def report(r: dict[str, Any], console: Console) -> None:
    table = Table("measure", "value", "ratio", "target", title="Driftline stream benchmark (same run)")
    kafka, one, two = r["kafka_consumer_rate"], r["one_worker_rate"], r["two_workers_rate"]
    joined = r["kafka_consumer"]["rate_with_join"]
    table.add_row("Kafka's consumer (ConsumerPerformance), same topic, group join excluded", f"{kafka:,.0f} rec/s",
                  f"ceiling ({joined:,.0f} rec/s with the join)", "")  # fmt: skip
    table.add_row("naive: model.predict per record", f"{r['naive_rate']:,.0f} rec/s",
                  f"one worker = {one / r['naive_rate']:,.0f}×", "")  # fmt: skip
    table.add_row("one worker", f"{one:,.0f} rec/s", f"{one / kafka:.2f}× Kafka's consumer ({one / joined:.2f}× with "
                  "its join)",
                  _verdict(one / kafka, TARGETS["one_worker_of_kafka_consumer"], at_least=True))  # fmt: skip
    name = "two workers"
    if "two_workers_counted" in r:
        name += f" (the {r['two_workers_counted']:,} records left when the producer finished)"
    table.add_row(name, f"{two:,.0f} rec/s", f"{two / one:.2f}× one worker",
                  _verdict(two / one, TARGETS["two_workers_of_one"], at_least=True))  # fmt: skip
    if "one_worker_cpu" in r:
        shares = ", ".join(f"{name} {100 * share:.0f}%" for name, share in r["one_worker_cpu"].items())
        table.add_row("  CPU while one worker drained (% of a core)", shares,
                      f"{sum(r['one_worker_cpu'].values()):.2f} of {r['cpus']} CPUs", "")  # fmt: skip
        shares = ", ".join(f"{name} {100 * share:.0f}%" for name, share in r["two_workers_cpu"].items())
        table.add_row("  CPU while two workers drained", shares,
                      f"{sum(r['two_workers_cpu'].values()):.2f} of {r['cpus']} CPUs", "")  # fmt: skip
        table.add_row("  the most two workers can drain on these CPUs", "",
                      f"{r['two_workers_machine_bound']:.2f}× one worker", "")  # fmt: skip
    w = r["redis_write"]
    table.add_row(f"Redis writes (redis-benchmark: SET EX, {w['value_bytes']} B, -P {w['pipeline']}, "
                  f"-c {w['clients']})", f"{r['redis_write_rate']:,.0f} writes/s", "ceiling", "")  # fmt: skip
    runs = ", ".join(f"{s:.2f}" for s in r["worker_cold_start_runs_seconds"])
    table.add_row("worker cold start: spawn → first prediction (median)", f"{r['worker_cold_start_seconds']:.2f} s",
                  f"runs: {runs} s",
                  _verdict(r["worker_cold_start_seconds"], TARGETS["cold_start_seconds"], at_least=False))  # fmt: skip

    def ms(p: dict[str, float]) -> str:
        return f"p50 {p['p50_ms']:.0f} ms  p95 {p['p95_ms']:.0f} ms  p99 {p['p99_ms']:.0f} ms"

    for lat in r["latency"]:
        rate = lat["target_rate"]
        labels = "with labels" if lat.get("labels", True) else "records only"
        sent = int(rate * r.get("latency_seconds", 60.0))
        read = "" if lat["records"] >= sent else f"; only {lat['records']:,} of {sent:,} predictions read"
        target = TARGETS.get(f"p99_ms_at_{rate:.0f}")
        table.add_row(f"latency at {rate:,.0f}/s, {labels} (achieved {lat['achieved_rate']:,.0f}{read})", ms(lat),
                      "", "" if target is None else _verdict(lat["p99_ms"], target, at_least=False))  # fmt: skip
        table.add_row("  first half: producer → Kafka log", ms(lat["producer_to_log"]), "", "")
        table.add_row("  second half: Kafka log → prediction", ms(lat["log_to_prediction"]), "", "")
        cpu = ", ".join(f"{name} {100 * share:.0f}%" for name, share in lat["cpu_share_of_a_core"].items())
        cpu += f"; host steal {100 * lat['host_steal_share']:.1f}%"
        table.add_row("  CPU meanwhile (% of a core)", cpu, "", "")
    rss = r["worker_rss_mb_after_soak"]
    table.add_row(f"worker RSS after {r['soak_seconds']:.0f} s of load", f"{rss:.0f} MB", "",
                  _verdict(rss, TARGETS["rss_mb"], at_least=False))  # fmt: skip
    console.print(table)
