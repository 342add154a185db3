"""`python -m monitoring.dashboards [--check]`: write the dashboards' JSON, or check the committed files are current."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from monitoring.dashboards import DASHBOARDS, FILES, REFRESH


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m monitoring.dashboards", description=__doc__)
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a committed file differs")
    args = parser.parse_args(argv)
    try:
        from monitoring.dashboards.render import render_all
        from monitoring.dashboards.rules import RuleThresholdError
    except ModuleNotFoundError as exc:
        print(f"error: {exc.name} is not installed; the generator needs the dev extra: pip install -e '.[dev]'",
              file=sys.stderr)  # fmt: skip
        return 2
    try:
        rendered = render_all()
    except RuleThresholdError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stale = []
    for uid, text in rendered.items():
        path = DASHBOARDS / FILES[uid]
        if path.exists() and path.read_text() == text:
            continue
        stale.append(path)
        if not args.check:
            path.write_text(text)
            print(f"wrote {path}")
    if args.check and stale:
        print(f"stale: {', '.join(str(p) for p in stale)}; refresh with: {REFRESH}", file=sys.stderr)
        return 1
    if not stale:
        print("dashboards are current")
    return 0


if __name__ == "__main__":
    sys.exit(main())
