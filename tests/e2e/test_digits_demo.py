"""`driftline demo --scenario digits` on the real stack: the image loop heals, or the demo exits 1.

The demo's own processes (trainer, two workers, producer) run as a user runs them; the test only shortens the
stationary and settle phases. It passes only if the demo exits 0, which it does only when the drift alert fired, a
retrained CNN was promoted and served by every worker, and its settled live accuracy is at least 0.95.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.processes import ROOT
from stack import Stack


@pytest.mark.timeout(900)
def test_the_digits_demo_heals_to_at_least_95_percent(stack: Stack) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTLINE_")}
    demo = subprocess.run([sys.executable, "-m", "demo", "--scenario", "digits", "--stationary", "30", "--settle",
                           "30", "--timeout", "600", "--keep-stack"], cwd=ROOT, env=env, capture_output=True,
                          timeout=840)  # fmt: skip
    output = demo.stdout.decode(errors="replace") + demo.stderr.decode(errors="replace")
    found = re.search(r"Report: (\S+report\.json)", output)
    assert found, output[-4000:]
    report = json.loads((ROOT / found.group(1)).read_text() if not Path(found.group(1)).is_absolute()
                        else Path(found.group(1)).read_text())  # fmt: skip
    assert demo.returncode == 0, (report, output[-4000:])
    assert report["missing"] == []
    assert report["live_accuracy"]["settled"] >= 0.95
    assert report["live_accuracy"]["drifted_before_swap"] < 0.5  # inversion really broke the first model
    assert not report["false_alerts_before_onset"]
