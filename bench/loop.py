"""`make bench-loop`: the closed loop timed on the scenario stream at a fixed rate, on the local stack.

One run of the demo's loop (every service its own process, as an operator runs them), with a long stationary
stream first: 1,000,000 records at 2,000 records/s by default. It measures

- false alerts: drift or accuracy alerts that fired, and retrains that ran, during the stationary stream;
- from drift onset (salary shifts and the labelling concept changes): the alert, the promotion, the last worker
  serving the new model;
- live accuracy (rolling, on the workers' label join): before drift, on the drifted stream before the swap, and
  after it.

Onset is taken when this process has streamed ``stationary`` seconds' worth of records on its own clock, which
starts before the producer's, so the real onset is no earlier and every "from onset" figure is an upper bound.
Prints a table and writes ``bench/results/loop.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from demo.run import Demo, DemoOptions
from driftline.settings import Settings

RESULTS = Path(__file__).parent / "results"
TARGETS = {"alert": 90.0, "all_workers_serving": 180.0}  # seconds from onset (issue 5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loop")
    parser.add_argument("--rate", type=float, default=2000.0, help="records per second, held the whole run")
    parser.add_argument("--stationary-records", type=int, default=1_000_000, help="records before drift onset")
    parser.add_argument("--after-onset-seconds", type=float, default=420.0, help="give up this long after onset")
    parser.add_argument("--settle-seconds", type=float, default=60.0, help="stream on after recovery, then read")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)

    console = Console()
    stationary = args.stationary_records / args.rate
    options = DemoOptions(rate=args.rate, stationary_seconds=stationary,
                          timeout_seconds=stationary + args.after_onset_seconds, workers=args.workers,
                          settle_seconds=args.settle_seconds)  # fmt: skip
    demo = Demo(Settings(), options, console)
    exit_code = demo.run()
    run = json.loads((demo.work / "report.json").read_text())
    results = {
        "date": datetime.now(UTC).isoformat(), "cpus": os.cpu_count(), "python": platform.python_version(),
        "rate": args.rate, "stationary_records": args.stationary_records, "workers": args.workers,
        "loop_completed": exit_code == 0, "targets_seconds_from_onset": TARGETS, **run,
    }  # fmt: skip
    report(console, results)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "loop.json").write_text(json.dumps(results, indent=2, default=str))
    console.print(f"saved {RESULTS / 'loop.json'}")
    return exit_code


def _verdict(ok: bool) -> str:
    return "[green]met[/]" if ok else "[red]missed[/]"


def _fmt(value: float | None, unit: str = "") -> str:
    return "-" if value is None else f"{value:.3f}" if not unit else f"{value:.0f} {unit}"


def report(console: Console, r: dict[str, Any]) -> None:
    table = Table("measure", "value", "target", "", title=f"Driftline loop benchmark at {r['rate']:,.0f} records/s")
    false = r["false_alerts_before_onset"]
    table.add_row(f"false alerts in {r['stationary_records']:,} stationary records",
                  f"{len(false)}" + (f" ({', '.join(false)})" if false else ""), "0", _verdict(not false))  # fmt: skip
    table.add_row("retrains before onset", str(r["retrains_before_onset"]), "0",
                  _verdict(r["retrains_before_onset"] == 0))  # fmt: skip
    seconds = r["seconds_from_onset"]
    for name, key in (("onset → alert firing", "alert"), ("onset → new model promoted", "promoted"),
                      ("onset → last worker serving it", "all_workers_serving"),
                      ("onset → live accuracy recovered", "recovered")):  # fmt: skip
        value, target = seconds.get(key), TARGETS.get(key)
        verdict = _verdict(value is not None and value <= target) if target else ""
        table.add_row(name, _fmt(value, "s"), f"≤ {target:.0f} s" if target else "", verdict)
    live = r["live_accuracy"]
    table.add_row("live accuracy before drift", _fmt(live["stationary"]), "", "")
    table.add_row("live accuracy on the drifted stream, old model", _fmt(live["drifted_before_swap"]), "", "")
    table.add_row("live accuracy after the swap (settled)", _fmt(live["settled"] or live["recovered"]), "", "")
    console.print(table)
    if r["missing"]:
        console.print(f"[red]the loop did not complete[/]: {', '.join(r['missing'])}")


if __name__ == "__main__":
    raise SystemExit(main())
