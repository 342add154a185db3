"""Driftline's Grafana dashboards, generated from code (grafana-foundation-sdk) into monitoring/grafana/dashboards.

`python -m monitoring.dashboards` writes the JSON files; `--check` says whether the committed ones are current.
The builders need the dev extra (grafana-foundation-sdk); reading a dashboard's queries (`queries`) does not.
"""

from __future__ import annotations

from pathlib import Path

DASHBOARDS = Path(__file__).resolve().parents[1] / "grafana" / "dashboards"
FILES = {"driftline-overview": "driftline.json", "driftline-trainer": "driftline-trainer.json"}
REFRESH = "python -m monitoring.dashboards"
