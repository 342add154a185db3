"""Prometheus and Alertmanager configuration: promtool and amtool accept it, the rule tests pass, alerts route right.

Needs Debian's promtool and amtool (`driftline stack up` installs them); without them these tests fail, never skip.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from trainer.webhook import RETRAIN_ALERTS

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "monitoring"
RULES = MONITORING / "prometheus" / "rules" / "driftline.yml"
RULE_TESTS = MONITORING / "prometheus" / "rules" / "driftline.test.yml"
PROMETHEUS_CONFIGS = [MONITORING / "prometheus" / "prometheus.yml", MONITORING / "prometheus" / "prometheus.docker.yml"]
ALERTMANAGER_LOCAL = MONITORING / "alertmanager" / "alertmanager.yml"
ALERTMANAGER_DOCKER = MONITORING / "alertmanager" / "alertmanager.docker.yml"
ALERTMANAGER_CONFIGS = [ALERTMANAGER_LOCAL, ALERTMANAGER_DOCKER]
DASHBOARD = MONITORING / "grafana" / "dashboards" / "driftline.json"
OPERATIONS = ROOT / "docs" / "operations.md"

# DESIGN section 8: these rules exist, and Alertmanager sends the first three to the trainer, and the change
# detector's alert (issue 18) and the confidence drift alert (issue 21).
DESIGN_ALERTS = ("DriftlineFeatureDrift", "DriftlinePredictionDrift", "DriftlineAccuracyDrop",
                 "DriftlineDeadLetterRatio", "DriftlineProcessorDown")  # fmt: skip
TO_TRAINER = frozenset({*DESIGN_ALERTS[:3], "DriftlineErrorRateChange", "DriftlinePredictionConfidenceDrift"})


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} is not on PATH. Run `driftline stack up` (or `make stack-up`): it installs Debian's prometheus "
            "and prometheus-alertmanager packages, which provide promtool and amtool.",
            pytrace=False,
        )
    return path


def _run(*args: str) -> str:
    result = subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)
    assert result.returncode == 0, f"`{' '.join(args)}` exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _alerts() -> list[dict[str, Any]]:
    groups = _yaml(RULES)["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


# ---------------------------------------------------------------------------------------------------------- Prometheus


def test_rule_unit_tests_pass() -> None:
    out = _run(_tool("promtool"), "test", "rules", str(RULE_TESTS))
    assert "SUCCESS" in out


def test_rules_check() -> None:
    out = _run(_tool("promtool"), "check", "rules", str(RULES))
    assert f"SUCCESS: {len(_alerts())} rules found" in out


@pytest.mark.parametrize("config", PROMETHEUS_CONFIGS, ids=lambda p: p.name)
def test_prometheus_config_check(config: Path) -> None:
    out = _run(_tool("promtool"), "check", "config", str(config))
    assert "SUCCESS: 1 rule files found" in out, "Prometheus must load driftline.yml and not the test file"


def test_rules_are_one_group_with_the_design_alerts() -> None:
    groups = _yaml(RULES)["groups"]
    assert [g["name"] for g in groups] == ["driftline"]
    names = [rule["alert"] for rule in _alerts()]
    assert len(names) == len(set(names)), f"an alert name is used twice: {names}"
    assert set(DESIGN_ALERTS) <= set(names)
    for rule in _alerts():
        assert rule["labels"].get("severity") in {"warning", "critical"}, rule["alert"]
        assert rule["labels"].get("kind"), rule["alert"]
        assert {"summary", "description"} <= set(rule["annotations"]), rule["alert"]
        assert "# threshold:" in rule["expr"] or rule["alert"] == "DriftlineNoProcessor", (
            f"{rule['alert']}: mark its threshold with a `# threshold:` comment (see the file's header)"
        )


def test_every_alert_has_a_runbook_entry_and_every_entry_an_alert() -> None:
    """docs/operations.md has one `### <alert name>` heading per rule and no other; each rule's runbook_url points at
    its heading's anchor (GitHub's: the name in lower case), and every link within the page lands on a heading."""
    text = OPERATIONS.read_text()
    headings = re.findall(r"^### (.+?)\s*$", text, flags=re.MULTILINE)
    names = [rule["alert"] for rule in _alerts()]
    assert len(headings) == len(set(headings)), f"a runbook heading is used twice: {headings}"
    assert set(names) - set(headings) == set(), "alerts without a runbook entry in docs/operations.md"
    assert set(headings) - set(names) == set(), "runbook entries for no alert in the rules"
    for rule in _alerts():
        assert rule["annotations"].get("runbook_url") == f"docs/operations.md#{rule['alert'].lower()}", rule["alert"]
    anchors = {heading.lower() for heading in headings}
    links = re.findall(r"\]\(#([\w-]+)\)", text)
    assert links and set(links) <= anchors, f"links to no heading: {set(links) - anchors}"


def test_every_alert_has_a_firing_and_a_quiet_test_case() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for group in _yaml(RULE_TESTS)["tests"]:
        for case in group.get("alert_rule_test", []):
            (firing if case.get("exp_alerts") else quiet).add(case["alertname"])
    names = {rule["alert"] for rule in _alerts()}
    assert names - firing == set(), "alerts without a test case where they fire"
    assert names - quiet == set(), "alerts without a test case where they must not fire"


def test_both_prometheus_configs_scrape_the_same_jobs_and_rules() -> None:
    local, docker = (_yaml(p) for p in PROMETHEUS_CONFIGS)
    assert local["rule_files"] == docker["rule_files"]
    assert local["global"] == docker["global"]
    jobs = [[job["job_name"] for job in c["scrape_configs"]] for c in (local, docker)]
    assert jobs[0] == jobs[1]
    assert {"driftline-processor", "driftline-trainer"} <= set(jobs[0])


def test_every_dashboard_expression_parses(tmp_path: Path) -> None:
    """promtool parses each panel's PromQL as a recording rule (Grafana's $__ variables replaced by a duration)."""
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", []) if t.get("expr")]
    exprs += [a["expr"] for a in dashboard.get("annotations", {}).get("list", []) if a.get("expr")]
    assert exprs
    rules = [{"record": f"dashboard:expr_{i}", "expr": re.sub(r"\$__\w+", "1m", e)} for i, e in enumerate(exprs)]
    path = tmp_path / "dashboard-exprs.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    out = _run(_tool("promtool"), "check", "rules", str(path))
    assert f"SUCCESS: {len(rules)} rules found" in out


# -------------------------------------------------------------------------------------------------------- Alertmanager


@pytest.mark.parametrize("config", ALERTMANAGER_CONFIGS, ids=lambda p: p.name)
def test_alertmanager_config_check(config: Path) -> None:
    out = _run(_tool("amtool"), "check-config", str(config))
    assert "SUCCESS" in out


def _receiver(config: Path, alertname: str) -> str:
    out = _run(_tool("amtool"), "config", "routes", "test", f"--config.file={config}", f"alertname={alertname}")
    return out.strip()


@pytest.mark.parametrize("config", ALERTMANAGER_CONFIGS, ids=lambda p: p.name)
def test_drift_and_accuracy_alerts_route_to_the_trainer(config: Path) -> None:
    for alertname in sorted(TO_TRAINER):
        assert _receiver(config, alertname) == "trainer", alertname
    # amtool fails by itself too when the receiver differs
    _run(_tool("amtool"), "config", "routes", "test", f"--config.file={config}", "--verify.receivers=trainer",
         "alertname=DriftlineFeatureDrift", "feature=amount", "severity=warning", "kind=drift")  # fmt: skip


@pytest.mark.parametrize("config", ALERTMANAGER_CONFIGS, ids=lambda p: p.name)
def test_every_other_alert_goes_to_people_not_to_the_trainer(config: Path) -> None:
    for alertname in sorted({rule["alert"] for rule in _alerts()} - TO_TRAINER):
        assert _receiver(config, alertname) == "operators", alertname
    assert _receiver(config, "SomeoneElsesAlert") == "null"


def test_the_trainer_acts_on_exactly_the_alerts_routed_to_it() -> None:
    assert RETRAIN_ALERTS == TO_TRAINER


def test_both_alertmanager_configs_agree_but_for_addresses() -> None:
    local, docker = _yaml(ALERTMANAGER_LOCAL), _yaml(ALERTMANAGER_DOCKER)
    assert local["route"] == docker["route"]
    assert local.get("inhibit_rules") == docker.get("inhibit_rules")
    hooks = [next(r for r in c["receivers"] if r["name"] == "trainer")["webhook_configs"] for c in (local, docker)]
    assert [h["url"] for h in hooks[0]] == ["http://127.0.0.1:8088/alerts"]
    assert [h["url"] for h in hooks[1]] == ["http://trainer:8088/alerts"]
    for hook in (hooks[0][0], hooks[1][0]):
        assert hook["http_config"]["authorization"]["type"] == "Bearer"
        assert hook["send_resolved"] is False


def test_the_token_file_is_the_one_the_stack_writes() -> None:
    """The stack writes trainer.webhook_token beside its copy of alertmanager.yml (tests/unit/test_install.py);
    compose hands the same setting to Alertmanager (tests/unit/test_compose.py)."""
    local = _yaml(ALERTMANAGER_LOCAL)
    hook = next(r for r in local["receivers"] if r["name"] == "trainer")["webhook_configs"][0]
    assert hook["http_config"]["authorization"]["credentials_file"] == "trainer-token"
