"""`driftline score FILE.png ...`: image files → class and probabilities with a registered version.

The lifecycle's pipeline function (``score_files``): each file becomes the record a producer would send (its PNG
bytes as base64 text, or its pixels as raw bytes for a ``raw`` contract), the version's own validator judges it
(so a file that is not a PNG, is corrupt, has the wrong channel count or is too large gets the same reason a
dead letter would carry), and the valid ones are scored in one batch through ``ModelBundle.predict``: the same
persisted preprocessing and LiteRT flatbuffer as the stream workers, never TensorFlow.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from driftline.bundle import ModelBundle
from driftline.contract import Contract, ImageEncoding
from driftline.errors import DataError
from driftline.images import encode_raw, read_png_file
from driftline.validation import Validator
from driftline.validation.invalid import Invalid

# Larger files are refused before they are read: far above any PNG of max_record_bytes' size.
MAX_FILE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class FileScore:
    path: Path
    label: Any
    probabilities: dict[str, float]  # class name → probability, in the contract's class order


@dataclass(frozen=True)
class FileError:
    path: Path
    reason: str
    error: str


def score_files(bundle: ModelBundle, paths: Sequence[Path]) -> list[FileScore | FileError]:
    """Score image files with ``bundle``, one result per path in order; one batched model call for all."""
    contract = bundle.contract
    feature = contract.image
    if feature is None:
        raise DataError(f"version {bundle.version} of {bundle.model_name!r} is not an image model (contract "
                        f"{contract.name!r}: {list(contract.feature_names)}); score takes image files")  # fmt: skip
    results: list[FileScore | FileError | None] = [None] * len(paths)
    raws: list[bytes] = []
    positions: list[int] = []
    now_ms = int(time.time() * 1000)
    for i, path in enumerate(paths):
        try:
            raws.append(_record(path, contract, now_ms))
            positions.append(i)
        except _Unreadable as exc:
            results[i] = FileError(path, exc.reason, exc.message)
    batch, rejections = Validator(contract).validate_batch(raws)
    for rejection in rejections:
        i = positions[rejection.index]
        results[i] = FileError(paths[i], rejection.reason.value, rejection.error)
    if len(batch):
        scored = bundle.predict(batch.columns)
        classes = [str(c) for c in contract.label.classes]
        probabilities = np.atleast_2d(scored.scores)
        if scored.scores.ndim == 1:  # binary: the positive class's probability
            probabilities = np.column_stack([1.0 - scored.scores, scored.scores])
        for row, (j, label) in enumerate(zip(batch.index.tolist(), scored.labels, strict=True)):
            i = positions[j]
            results[i] = FileScore(paths[i], label, dict(zip(classes, probabilities[row].tolist(), strict=True)))
    return [r for r in results if r is not None]


class _Unreadable(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


def _record(path: Path, contract: Contract, now_ms: int) -> bytes:
    """The file as the JSON record a producer would send (id = the file's name)."""
    feature = contract.image
    assert feature is not None
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise _Unreadable("too_large", f"expected at most {MAX_FILE_BYTES} bytes, found a file of {size}")
        data = path.read_bytes()
    except OSError as exc:
        raise _Unreadable("unreadable", f"cannot read the file: {exc.strerror or exc}") from None
    if feature.encoding is ImageEncoding.RAW:
        try:
            value = encode_raw(read_png_file(data, feature))
        except Invalid as inv:
            raise _Unreadable(inv.reason.value, inv.message) from None
    else:
        value = base64.b64encode(data).decode("ascii")
    record = {contract.id_field: path.name or str(path), contract.event_time_field: now_ms, feature.name: value}
    return orjson.dumps(record)


def render(results: Sequence[FileScore | FileError], *, top: int = 3) -> str:
    """One line per file: its class and the ``top`` most probable classes, or its reason and error."""
    lines = []
    for r in results:
        if isinstance(r, FileError):
            lines.append(f"{r.path}: refused ({r.reason}): {r.error}")
            continue
        best = sorted(r.probabilities.items(), key=lambda kv: -kv[1])[:top]
        shown = "  ".join(f"{name}={p:.3f}" for name, p in best)
        lines.append(f"{r.path}: {r.label}  ({shown})")
    return "\n".join(lines)


def as_json_lines(results: Sequence[FileScore | FileError]) -> str:
    rows = [
        {"file": str(r.path), "reason": r.reason, "error": r.error}
        if isinstance(r, FileError)
        else {"file": str(r.path), "label": r.label, "probabilities": r.probabilities}
        for r in results
    ]
    return "\n".join(orjson.dumps(row).decode() for row in rows)
