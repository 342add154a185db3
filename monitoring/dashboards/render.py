"""Both dashboards as the JSON text committed under monitoring/grafana/dashboards."""

from __future__ import annotations

import json

from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models.dashboard import Dashboard

from monitoring.dashboards import overview, retraining
from monitoring.dashboards.rules import Thresholds


def encode(board: Dashboard) -> str:
    return JSONEncoder(sort_keys=True, indent=2).encode(board) + "\n"


def normalize(text: str) -> str:
    """A dashboard's JSON read into the SDK's models and written back (the SDK fills in its defaults)."""
    register_default_plugins()
    return encode(Dashboard.from_json(json.loads(text)))


def render_all() -> dict[str, str]:
    """Each dashboard's uid → its JSON (sorted keys, two-space indent, a final newline), as the SDK reads it back."""
    rules = Thresholds()
    return {board.uid or "": normalize(encode(board)) for board in (overview.build(rules), retraining.build(rules))}
