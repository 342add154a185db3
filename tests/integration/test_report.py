"""`driftline report` against the real Prometheus: an HTML page, one real PNG per panel, the registry's versions."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from driftline.registry import Registry
from driftline.settings import Settings
from monitoring.cli import main
from monitoring.report import PANELS, Prometheus, _with_gaps, write_report


def test_report_renders_every_panel_and_the_versions(settings: Settings, registry: Registry, tmp_path: Path) -> None:
    prometheus = Prometheus(f"http://127.0.0.1:{settings.stack.prometheus_port}")
    index = write_report(prometheus, registry, tmp_path / "report", minutes=10)
    page = index.read_text()
    for panel in PANELS:
        png = tmp_path / "report" / panel.file
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", panel.file
        assert panel.file in page and panel.title in page
    version = registry.alias("production").version  # type: ignore[union-attr]
    assert f"<td>{version} (production)</td>" in page


def test_gaps_are_not_drawn_across() -> None:
    xs, ys = _with_gaps([(0.0, 1.0), (5.0, 1.0), (100.0, 2.0)], 5.0)
    assert xs[:3] == [0.0, 5.0, 10.0] and ys[2] != ys[2]  # NaN marks the gap


def test_the_command_marks_a_run_s_events_and_refuses_a_bad_events_file(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events.json"
    events.write_text(json.dumps([{"label": "drift onset", "time": time.time() - 60}]))
    out = tmp_path / "report"
    assert main(["report", "--minutes", "5", "--out", str(out), "--events", str(events)]) == 0
    assert (out / "accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    events.write_text('{"not": "a list"}')
    assert main(["report", "--out", str(out), "--events", str(events)]) == 1
    assert "--events" in capsys.readouterr().err
