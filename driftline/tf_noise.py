"""Keeping TensorFlow's and LiteRT's start-up chatter out of Driftline's output, and their errors in it.

TensorFlow's C++ core, absl and the LiteRT converter write straight to file descriptors 1 and 2 (CPU feature notes,
``I0000``/``W0000`` lines, a SavedModel's endpoint listing), which ``logging`` cannot filter. Two measures:
:func:`quiet_tensorflow` sets ``TF_CPP_MIN_LOG_LEVEL`` before TensorFlow is imported (its INFO and WARNING lines
are then never written) and quiets TensorFlow's and absl's Python loggers; :func:`native_output_filtered` runs a
block (the flatbuffer conversion) with both descriptors sent to temporary files and replays every line that is not
known noise, so an error still shows.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator, MutableMapping
from typing import IO

# Lines TensorFlow, absl and LiteRT write that say nothing to a Driftline user. Errors (E0000, F0000, Traceback,
# "error") match none of them.
NOISE = re.compile(
    r"^(?:[IW]\d{4} \d\d:\d\d:\d\d|[IW]\d{4} |"  # absl's INFO and WARNING lines
    r"WARNING: All log messages before absl::InitializeLog\(\) is called|"
    r"INFO: Created TensorFlow Lite XNNPACK delegate|"
    r".*cpu_feature_guard\.cc|To enable the following instructions: |"
    r"Saved artifact at '|\* Endpoint '|\s+args_\d+ \(|Output Type:|Captures:|\s+(?:\d+: )?TensorSpec\(|"
    r"\s*$)"
)


def quiet_tensorflow(environ: MutableMapping[str, str]) -> None:
    """Before TensorFlow is imported: only its errors from C++ (``TF_CPP_MIN_LOG_LEVEL=2``, unless already set),
    and only warnings from its and absl's Python loggers."""
    environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.getLogger("tensorflow").setLevel(logging.WARNING)
    logging.getLogger("absl").setLevel(logging.ERROR)


def without_noise(text: str) -> str:
    """``text`` without the lines that are known noise."""
    kept = [line for line in text.splitlines(keepends=True) if not NOISE.match(line)]
    return "".join(kept)


@contextlib.contextmanager
def native_output_filtered() -> Iterator[None]:
    """Run the block with file descriptors 1 and 2 captured (C++ writes included); afterwards write back each
    captured line that is not noise to where it was going. Other threads' output in the meantime is replayed too."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved: list[tuple[int, int, IO[bytes]]] = []
    try:
        for fd in (1, 2):
            capture = tempfile.TemporaryFile()  # noqa: SIM115 (closed below, after the replay)
            saved.append((fd, os.dup(fd), capture))
            os.dup2(capture.fileno(), fd)
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        for fd, original, captured in saved:
            os.dup2(original, fd)
            os.close(original)
            captured.seek(0)
            kept = without_noise(captured.read().decode(errors="replace"))
            captured.close()
            data = kept.encode()
            while data:
                data = data[os.write(fd, data) :]
