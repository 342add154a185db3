"""`make bench-serve`: HTTP scoring, requests/s and p99 latency at concurrency 1, 32 and 256, for `driftline serve`
(requests batched, LiteRT) beside a per-request ``model.predict`` baseline behind the same aiohttp front.

Both servers are `processors.serve` apps in processes of their own: the baseline (``python -m bench.serve
baseline``) is the same app with the batch size 1, no wait, and the Keras model's ``predict`` in place of the
LiteRT scorer, so that only batching and the model call differ. Each request is one record. The client runs here,
on the same machine. Prints a table and writes ``bench/results/serve.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import orjson
from rich.console import Console
from rich.table import Table

from bench.stream import bench_registry
from driftline.entrypoint import positive_int, positive_ints
from driftline.registry import Registry
from driftline.settings import Settings
from driftline.sources import AgrawalSource
from harness.processes import ROOT, free_port, settings_env, stop_process
from harness.scrape import http_get
from harness.waiting import wait_for

RESULTS = Path(__file__).parent / "results"
LEVELS = (1, 32, 256)


class KerasPredict:
    """The scorer of the baseline: ``model.predict`` of the Keras model, one call per batch given (here: per
    request), shaped as the LiteRT scorer's outputs."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.binary = int(model.output_shape[-1]) == 1  # as the LiteRT scorer: one sigmoid unit

    def __call__(self, X: np.ndarray) -> np.ndarray:
        out = np.asarray(self.model.predict(X, verbose=0), dtype=np.float64)
        return out[:, 0] if self.binary else out


def keras_loader(registry: Registry, version: int) -> Any:
    """Like ``processors.model_slot.load_step``, with the Keras model's ``predict`` as the scorer."""
    from driftline.bundle import ModelBundle
    from driftline.modelio import load_keras
    from driftline.registry import MODEL_FILE
    from processors.scoring_step import ScoringStep

    bundle = ModelBundle.load(registry, version, warm_up=True)
    model = KerasPredict(load_keras(registry.path(version) / MODEL_FILE))
    model(bundle.preprocessor.transform(bundle.profile.sample_columns()))  # warm: predict's first call traces
    return ScoringStep(replace(bundle, scorer=model))  # type: ignore[arg-type]


def baseline() -> int:
    """``python -m bench.serve baseline``: the serve app, one record per model call, scored by ``model.predict``."""
    from driftline.entrypoint import configure_logging
    from processors.serve import run_serve

    settings = Settings()
    configure_logging(False, settings)
    run_serve(settings, loader=keras_loader)
    return 0


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTLINE_")}
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, env={**clean, **env}, stdout=out,
                                stderr=subprocess.STDOUT)  # fmt: skip


async def load(url: str, bodies: list[bytes], concurrency: int) -> dict[str, float]:
    """``len(bodies)`` requests from ``concurrency`` clients, each one after another: requests/s and latency."""
    latencies: list[float] = []
    failures = 0
    queue = iter(bodies)
    headers = {"Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def client() -> None:
            nonlocal failures
            for body in queue:
                started = time.perf_counter()
                async with session.post(url + "/v1/predict", data=body, headers=headers) as response:
                    await response.read()
                    failures += response.status != 200
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    ms = np.array(latencies) * 1000.0
    return {"requests": len(bodies), "failures": failures, "requests_per_second": len(bodies) / elapsed,
            "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))}  # fmt: skip


def wait_serving(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    def healthy() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}; see {log}")
        return http_get(url + "/healthz") is not None

    wait_for(healthy, timeout=180, interval=0.5, message=f"{url} serving (log: {log})")


def measure(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    registry = bench_registry(Path(".driftline/bench/registry"))
    bodies = [orjson.dumps(r.record) for r in AgrawalSource(seed=5).take(args.requests)]
    work = Path(tempfile.mkdtemp(prefix="driftline-bench-serve-"))
    base_env = settings_env(registry={"root": registry.root.resolve(), "model_name": registry.model},
                            stack={"data_dir": work / "stack"})  # fmt: skip
    # the baseline answers about 14 requests/s here: fewer requests keep its three levels to minutes, not a quarter
    # of an hour, and its p99 is still over several rounds of the 256 clients
    servers = {
        "serve": (["processors", "serve"], {"max_batch_size": args.max_batch_size, "max_wait_ms": args.max_wait_ms},
                  bodies),
        "baseline": (["bench.serve", "baseline"], {"max_batch_size": 1, "max_wait_ms": 0},
                     bodies[: args.baseline_requests]),
    }  # fmt: skip
    results: dict[str, Any] = {}
    for name, (command, serve, sent) in servers.items():
        port = free_port()
        process = spawn(command, {**base_env, **settings_env(serve={"port": port, **serve})}, work / f"{name}.log")
        url = f"http://127.0.0.1:{port}"
        try:
            wait_serving(process, url, work / f"{name}.log")
            asyncio.run(load(url, bodies[: min(64, len(bodies))], 4))  # warm
            results[name] = {}
            for level in args.levels:
                console.print(f"{name}: concurrency {level} ...")
                results[name][str(level)] = asyncio.run(load(url, sent, level))
        finally:
            stop_process(process, timeout=30)
    return results


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["baseline"]:
        return baseline()
    parser = argparse.ArgumentParser(prog="python -m bench.serve", description=__doc__)
    parser.add_argument("--requests", type=positive_int, default=5000, help="requests per concurrency level")
    parser.add_argument("--baseline-requests", type=positive_int, default=1000,
                        help="requests per concurrency level for the per-request model.predict baseline")
    parser.add_argument("--levels", type=positive_ints, default=LEVELS, help="concurrency levels, e.g. 1,32,256")
    parser.add_argument("--max-batch-size", type=positive_int, default=Settings().serve.max_batch_size)
    parser.add_argument("--max-wait-ms", type=float, default=Settings().serve.max_wait_ms)
    args = parser.parse_args(argv)
    console = Console()
    measured = measure(args, console)
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(), "cpus": os.cpu_count(), "machine": platform.machine(),
        "python": platform.python_version(), "requests_per_level": args.requests,
        "baseline_requests_per_level": min(args.baseline_requests, args.requests),
        "serve_settings": {"max_batch_size": args.max_batch_size, "max_wait_ms": args.max_wait_ms},
        "command": "python -m bench.serve " + " ".join(argv), **measured,
    }  # fmt: skip
    table = Table(title=f"HTTP scoring, one record per request, {args.requests} requests per level "
                        f"({min(args.baseline_requests, args.requests)} for the baseline)")
    for column in ("concurrency", "serve req/s", "serve p99 ms", "baseline req/s", "baseline p99 ms", "speed-up"):
        table.add_column(column, justify="right")
    for level in args.levels:
        s, b = measured["serve"][str(level)], measured["baseline"][str(level)]
        table.add_row(str(level), f"{s['requests_per_second']:,.0f}", f"{s['p99_ms']:,.1f}",
                      f"{b['requests_per_second']:,.0f}", f"{b['p99_ms']:,.1f}",
                      f"{s['requests_per_second'] / b['requests_per_second']:,.1f}×")  # fmt: skip
    console.print(table)
    failures = sum(r["failures"] for server in ("serve", "baseline") for r in measured[server].values())
    if failures:
        console.print(f"[red]{failures} requests did not answer 200[/red]")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "serve.json").write_text(json.dumps(results, indent=2))
    console.print(f"saved {RESULTS / 'serve.json'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
