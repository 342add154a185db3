"""The byte form of JSON artifacts (preprocessing and profiles): canonical, hashable, never a pickle.

Canonical JSON has sorted keys, no whitespace, shortest round-trip float reprs and no NaN, so an artifact's
``fingerprint`` is the sha256 of its file: ``sha256sum preprocessing.json`` prints it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from driftline.errors import PreprocessingError


def canonical_json(data: Any) -> bytes:
    """The one byte form of an artifact: sorted keys, no whitespace, repr-exact floats, no NaN/Infinity."""
    return json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def read_json_artifact(path: str | Path, what: str) -> Any:
    """Parse a JSON artifact, refusing pickles and unreadable files with a message naming the file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PreprocessingError(f"cannot read {what} {path}: {exc}") from exc
    if raw[:1] == b"\x80":
        raise PreprocessingError(f"{what} {path} looks like a pickle; only JSON is accepted")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PreprocessingError(f"{what} {path} is not valid JSON: {exc}") from exc
