"""The alert rules' thresholds, read from their `# threshold:` comments, so the dashboards draw the numbers that fire.

The rules file writes every number that decides whether an alert fires once, on a line of its rule's `expr` that
ends with `# threshold: <what it is>`. A panel that mirrors a rule asks for one of them by the rule's name and a
word of that comment; a threshold reworded or removed is an error that names the rule, never a silent old number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

RULES = Path(__file__).resolve().parents[1] / "prometheus" / "rules" / "driftline.yml"

_THRESHOLD = re.compile(r"(?P<op>[<>]=?|==|!=)\s*(?P<value>[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)\s*"
                        r"#\s*threshold:\s*(?P<note>.*)$")  # fmt: skip


class RuleThresholdError(LookupError):
    """A panel asked for a threshold the rules file does not have (a rule renamed, a comment reworded)."""


@dataclass(frozen=True)
class Threshold:
    alert: str
    op: str
    value: float
    note: str


def rule_thresholds(path: Path = RULES) -> dict[str, list[Threshold]]:
    """Every alert's thresholds, in the order its `expr` lists them."""
    found: dict[str, list[Threshold]] = {}
    for group in yaml.safe_load(path.read_text())["groups"]:
        for rule in group["rules"]:
            if "alert" not in rule:
                continue
            found[rule["alert"]] = [
                Threshold(rule["alert"], m["op"], float(m["value"]), m["note"].strip())
                for line in rule["expr"].splitlines()
                if (m := _THRESHOLD.search(line))
            ]
    return found


class Thresholds:
    """The rules' thresholds, looked up by alert name and a word of the threshold's comment."""

    def __init__(self, path: Path = RULES) -> None:
        self.path = path
        self.by_alert = rule_thresholds(path)
        self.exprs = {rule["alert"]: rule["expr"] for group in yaml.safe_load(path.read_text())["groups"]
                      for rule in group["rules"] if "alert" in rule}  # fmt: skip

    def alerts_using(self, metric: str, *, also: str = "", without: str = "") -> list[str]:
        """The alerts whose expression reads `metric` (and contains `also`, and not `without`), for a panel of that
        metric to link to: a rule added later gets its link when the dashboards are regenerated."""
        name = re.compile(rf"(?<![\w:]){re.escape(metric)}(?![\w:])")
        return sorted(a for a, expr in self.exprs.items()
                      if name.search(expr) and also in expr and not (without and without in expr))  # fmt: skip

    def get(self, alert: str, word: str) -> Threshold:
        matches = [t for t in self.by_alert.get(alert, []) if word.lower() in t.note.lower()]
        if len(matches) != 1:
            raise RuleThresholdError(f"{self.path}: expected one threshold of {alert} whose comment says {word!r}, "
                                     f"found {len(matches)} in {[t.note for t in self.by_alert.get(alert, [])]}")
        return matches[0]

    def value(self, alert: str, word: str) -> float:
        return self.get(alert, word).value
