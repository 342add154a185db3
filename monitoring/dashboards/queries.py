"""The PromQL of a dashboard's JSON: every panel's (rows' panels too), every query variable's, every annotation's.

Grafana fills in `$name` / `${name}` variables and its own `$__…` intervals before a query reaches Prometheus; to
send one to Prometheus without Grafana, `substitute` does the same with values given (a regex `.*` selects all).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

_LABEL_VALUES = re.compile(r"^\s*label_values\((?P<selector>.*),\s*(?P<label>\w+)\s*\)\s*$", re.DOTALL)
_QUERY_RESULT = re.compile(r"^\s*query_result\((?P<expr>.*)\)\s*$", re.DOTALL)
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")
# Grafana's own range and interval variables, by a duration that works for each
GRAFANA_INTERVALS = {"__rate_interval": "1m", "__interval": "15s", "__range": "30m"}


@dataclass(frozen=True)
class Query:
    where: str  # "panel <title> / <refId>", "variable <name>", "annotation <name>"
    expr: str


def panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, those inside (collapsed) rows included, rows themselves not."""
    for panel in dashboard.get("panels", []):
        if panel.get("type") == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def rows(dashboard: Mapping[str, Any]) -> list[str]:
    return [p["title"] for p in dashboard.get("panels", []) if p.get("type") == "row"]


def variables(dashboard: Mapping[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = dashboard.get("templating", {}).get("list", [])
    return found


def variable_expr(query: str | Mapping[str, Any]) -> str:
    """The PromQL a query variable runs: the series selector of label_values(…), the expression of query_result(…)."""
    text = query if isinstance(query, str) else str(query.get("query", ""))
    if m := _LABEL_VALUES.match(text):
        return m["selector"].strip()
    if m := _QUERY_RESULT.match(text):
        return m["expr"].strip()
    return text.strip()


def queries(dashboard: Mapping[str, Any]) -> list[Query]:
    found = [Query(f"panel {p.get('title', '')!r} / {t.get('refId', '')}", t["expr"])
             for p in panels(dashboard) for t in p.get("targets", []) if t.get("expr")]  # fmt: skip
    found += [Query(f"variable {v['name']}", variable_expr(v.get("query", "")))
              for v in variables(dashboard) if v.get("type") == "query"]  # fmt: skip
    found += [Query(f"annotation {a.get('name', '')}", a["expr"])
              for a in dashboard.get("annotations", {}).get("list", []) if a.get("expr")]  # fmt: skip
    return found


def substitute(expr: str, values: Mapping[str, str]) -> str:
    """`expr` with Grafana's variables replaced by `values` (and its `$__` intervals by fixed durations)."""

    def value(match: re.Match[str]) -> str:
        name = match[1] or match[2]
        if name in GRAFANA_INTERVALS:
            return GRAFANA_INTERVALS[name]
        if name not in values:
            raise KeyError(f"no value for variable ${name} in {expr!r}")
        return values[name]

    return _VARIABLE.sub(value, expr)
