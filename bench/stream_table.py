"""`make bench-stream`'s table: every figure of one run, as ratios to the floor and the naive baseline."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def report(r: dict[str, Any], console: Console) -> None:
    table = Table("measure", "value", "vs floor", "vs naive", title="Driftline stream benchmark (same run)")
    for name, key in (("floor: aiokafka → Redis, raw", "floor_rate"), ("naive: model.predict per record", "naive_rate"),
                      ("one worker", "one_worker_rate"), ("two workers", "two_workers_rate")):  # fmt: skip
        value = r[key]
        floor, naive = value / r["floor_rate"], value / r["naive_rate"]
        if key == "two_workers_rate" and "two_workers_counted" in r:
            name += f" (the {r['two_workers_counted']:,} records left when the producer finished)"
        table.add_row(name, f"{value:,.0f} rec/s", f"{floor:.2f}×", f"{naive:,.0f}×")

    def ms(p: dict[str, float]) -> str:
        return f"p50 {p['p50_ms']:.0f} ms  p95 {p['p95_ms']:.0f} ms  p99 {p['p99_ms']:.0f} ms"

    for lat in r["latency"]:
        labels = "with labels" if lat.get("labels", True) else "records only"
        if lat.get("pinned"):
            labels += ", the producer pinned to one CPU"
        sent = int(lat["target_rate"] * r.get("latency_seconds", 60.0))
        read = "" if lat["records"] >= sent else f"; only {lat['records']:,} of {sent:,} predictions read"
        table.add_row(f"latency at {lat['target_rate']:,.0f}/s, {labels} (achieved {lat['achieved_rate']:,.0f}{read})",
                      ms(lat), "", "")  # fmt: skip
        if "producer_to_log" in lat:
            table.add_row("  first half: producer → Kafka log", ms(lat["producer_to_log"]), "", "")
            table.add_row("  second half: Kafka log → prediction", ms(lat["log_to_prediction"]), "", "")
            cpu = ", ".join(f"{name} {100 * share:.0f}%" for name, share in lat["cpu_share_of_a_core"].items())
            if "host_steal_share" in lat:
                cpu += f"; host steal {100 * lat['host_steal_share']:.1f}%"
            table.add_row("  CPU meanwhile (% of a core)", cpu, "", "")
    rss = f"{r['worker_rss_mb_after_soak']:.0f} MB"
    table.add_row(f"worker RSS after {r['soak_seconds']:.0f} s of load", rss, "", "")
    console.print(table)
