"""Every query of both Grafana dashboards against the live Prometheus: each panel's and annotation's PromQL, with
the dashboard's variables filled in (all values, `.*`, then a real value Prometheus lists for each), is accepted by
/api/v1/query; each variable's label_values(…) is answered by the label-values API Grafana itself calls.

Data in every panel after a real run is the closed loop's check (tests/e2e/test_closed_loop.py).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from driftline.settings import Settings
from monitoring.dashboards import DASHBOARDS, FILES
from monitoring.dashboards.queries import queries, substitute, variables
from stack import Stack

ALL = {"worker": ".*", "version": ".*", "feature": ".*"}
LABEL_VALUES = "label_values("


class Prometheus:
    def __init__(self, url: str) -> None:
        self.url = url

    def refusal(self, expr: str) -> str | None:
        """None if Prometheus evaluates `expr`, else its error."""
        response = requests.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        body = response.json()
        return None if response.ok and body["status"] == "success" else f"{response.status_code}: {body.get('error')}"

    def label_values(self, selector: str, label: str) -> list[str]:
        response = requests.get(f"{self.url}/api/v1/label/{label}/values", params={"match[]": selector}, timeout=10)
        assert response.ok, f"label values of {label} for {selector!r}: {response.status_code} {response.text}"
        values: list[str] = response.json()["data"]
        return values


@pytest.fixture(scope="module")
def prometheus(stack: Stack, settings: Settings) -> Prometheus:
    return Prometheus(f"http://127.0.0.1:{settings.stack.prometheus_port}")


@pytest.fixture(scope="module", params=sorted(FILES.values()))
def dashboard(request: pytest.FixtureRequest) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DASHBOARDS / request.param).read_text())
    return data


def _label_values(variable: dict[str, Any]) -> tuple[str, str]:
    text = variable["query"]
    assert text.startswith(LABEL_VALUES) and text.endswith(")"), f"{variable['name']}: {text!r}"
    selector, _, label = text[len(LABEL_VALUES):-1].rpartition(",")
    return selector.strip(), label.strip()


def test_prometheus_refuses_a_broken_query(prometheus: Prometheus) -> None:
    """The check below can fail: a query Prometheus cannot parse is refused, not answered with no data."""
    assert prometheus.refusal("sum by (le (rate(x[1m]))") is not None
    assert prometheus.refusal('rate(up{job=~"$worker"})') is not None  # a variable left in, no range
    assert prometheus.refusal("up") is None


def test_every_variable_is_answered(prometheus: Prometheus, dashboard: dict[str, Any]) -> None:
    for variable in variables(dashboard):
        if variable["type"] != "query":
            continue
        selector, label = _label_values(variable)
        prometheus.label_values(substitute(selector, ALL), label)


def test_every_query_is_accepted_with_all_values_and_with_real_ones(
    prometheus: Prometheus, dashboard: dict[str, Any]
) -> None:
    real = dict(ALL)
    for variable in variables(dashboard):  # in order: a later variable's query may use an earlier one
        if variable["type"] == "query":
            selector, label = _label_values(variable)
            values = prometheus.label_values(substitute(selector, real), label)
            real[variable["name"]] = values[0] if values else ".*"
    refused = []
    for values in (ALL, real):
        for query in queries(dashboard):
            expr = substitute(query.expr, values)
            if (error := prometheus.refusal(expr)) is not None:
                refused.append(f"{query.where}: {expr!r}: {error}")
    assert not refused, "\n".join(refused)
