"""`python -m trainer serve` is `driftline trainer serve`."""

from __future__ import annotations

import sys

from driftline.cli import main

if __name__ == "__main__":
    sys.exit(main(["trainer", *sys.argv[1:]]))
