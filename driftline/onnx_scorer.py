"""Scoring a version's ``model.onnx`` with onnxruntime: the check that the portable copy scores like the served one.

Workers serve the LiteRT flatbuffer (:mod:`driftline.litert`); the ONNX model is what a version offers to other
runtimes (``driftline models export``). The release and the export both run it through onnxruntime on the golden
records before they write it, so a ``model.onnx`` in a version or a bundle is known to reproduce the Keras model.
"""

from __future__ import annotations

import numpy as np

from driftline.contract import Contract
from driftline.errors import DataError, DriftlineError, IntegrityError
from driftline.golden import Golden
from driftline.onnx_export import INPUT_NAME, OUTPUT_NAME
from driftline.preprocessing import Preprocessor
from driftline.scores import BatchScorer
from driftline.validation import Validator

__all__ = ["OnnxScorer", "verify_onnx"]

_INSTALL_HINT = "pip install 'driftline[ml]'"


class OnnxScorer(BatchScorer):
    """Probabilities from an ONNX model made by :func:`driftline.onnx_export.onnx_bytes` (see ``BatchScorer``)."""

    runtime = "onnxruntime"

    def __init__(self, model: bytes, width: int) -> None:
        try:
            import onnxruntime
        except ImportError as exc:
            raise DriftlineError(f"onnxruntime is not installed; scoring model.onnx needs it: {_INSTALL_HINT}") from exc
        if width < 1:
            raise DataError(f"scorer width should be a positive number of columns, found {width}")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        try:
            self._session = onnxruntime.InferenceSession(bytes(model), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for a file it cannot load
            raise IntegrityError(f"model.onnx cannot be loaded by onnxruntime: {exc}") from exc
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        if [i.name for i in inputs] != [INPUT_NAME] or [o.name for o in outputs] != [OUTPUT_NAME]:
            raise IntegrityError(
                f"model.onnx should take {INPUT_NAME!r} and give {OUTPUT_NAME!r}, found inputs "
                f"{[i.name for i in inputs]} and outputs {[o.name for o in outputs]}"
            )
        declared = inputs[0].shape
        if len(declared) != 2 or declared[1] != width:
            raise IntegrityError(f"model.onnx takes input {declared}, the preprocessing gives (n, {width})")
        out_shape = outputs[0].shape
        if len(out_shape) != 2 or not isinstance(out_shape[1], int) or out_shape[1] < 1:
            raise IntegrityError(f"model.onnx should return (batch, k) probabilities, found {out_shape}")
        self.width = int(width)
        self.n_outputs = int(out_shape[1])
        self._run = self.run

    def run(self, X: np.ndarray) -> np.ndarray:
        """onnxruntime's raw output, ``(n, k)`` float32, for a non-empty float32 batch."""
        return np.asarray(self._session.run([OUTPUT_NAME], {INPUT_NAME: X})[0])


def verify_onnx(model: bytes, golden: Golden, contract: Contract, preprocessor: Preprocessor) -> float:
    """Score the golden records through the persisted preprocessing and ``model`` (onnxruntime): the largest
    difference from the Keras model's outputs, or IntegrityError when it is above the golden tolerance."""
    scorer = OnnxScorer(model, preprocessor.width)
    try:
        return golden.verify(Validator(contract), lambda columns: scorer(preprocessor.transform(columns)))
    except IntegrityError as exc:
        raise IntegrityError(f"model.onnx does not score like the Keras model: {exc}") from exc
