"""Reading a worker's /metrics page: samples by (name, labels), the version it serves, its accuracy, its latency."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]  # a /metrics scrape: (name, labels) → value


def http_get(url: str, timeout: float = 2.0) -> bytes | None:
    """The body at ``url``; None if nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bytes(response.read())
    except OSError:
        return None


def scrape(port: int) -> Samples:
    """Every sample of ``http://127.0.0.1:<port>/metrics``; empty if the page does not answer."""
    body = http_get(f"http://127.0.0.1:{port}/metrics")
    if body is None:
        return {}
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def serving_version(samples: Samples) -> int | None:
    """The model version a worker's scrape says it serves (its one ``driftline_model_info`` series set to 1)."""
    for (name, labels), value in samples.items():
        if name == "driftline_model_info" and value == 1:
            return int(dict(labels)["version"])
    return None


def worker_accuracies(workers: dict[int, Samples], version: int) -> list[float]:
    """The rolling labeled accuracy of ``version`` on each worker that has one."""
    key = ("driftline_labeled_accuracy", (("version", str(version)),))
    return [samples[key] for samples in workers.values() if key in samples]


def live_accuracy(workers: dict[int, Samples], version: int) -> float | None:
    """Mean over the workers of the rolling labeled accuracy of ``version`` (None where no worker has one yet)."""
    known = worker_accuracies(workers, version)
    return sum(known) / len(known) if known else None


def quantile_ms(samples: Samples, q: float) -> float | None:
    """A quantile of the end-to-end latency histogram (upper bucket bound, as Prometheus would bound it)."""
    buckets = sorted(
        (float(dict(labels)["le"]), value)
        for (name, labels), value in samples.items()
        if name == "driftline_end_to_end_latency_seconds_bucket"
    )
    if not buckets or buckets[-1][1] == 0:
        return None
    target = q * buckets[-1][1]
    return next(bound * 1000 for bound, count in buckets if count >= target)


def latency_since(now: Samples, before: Samples) -> Samples:
    """Latency histogram buckets counted since ``before`` (counters only grow; a restart starts them over)."""
    buckets = {key: value for key, value in now.items() if key[0] == "driftline_end_to_end_latency_seconds_bucket"}
    if any(value < before.get(key, 0.0) for key, value in buckets.items()):
        return buckets  # the worker restarted: its histogram started over
    return {key: value - before.get(key, 0.0) for key, value in buckets.items()}
