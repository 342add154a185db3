"""`python -m producers ...` is `driftline produce ...`."""

from __future__ import annotations

import sys

from driftline.cli import main

if __name__ == "__main__":
    sys.exit(main(["produce", *sys.argv[1:]]))
