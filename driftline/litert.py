"""Serving a released model: its LiteRT flatbuffer run by LiteRT's interpreter, with no TensorFlow at all.

The trainer compiles the Keras model once, at release (``driftline.scoring``), and writes the flatbuffer into the
version as ``model.tflite``; a worker only runs it. ``ai_edge_litert`` is LiteRT's stand-alone runtime: importing
it does not import TensorFlow or Keras, which keeps the worker's start-up and memory small. The interpreter runs
on the calling thread. Whether a flatbuffer scores like the Keras model it came from is checked against the
version's golden records (:mod:`driftline.golden`), not here.
"""

from __future__ import annotations

import logging
import threading

import numpy as np

from driftline.errors import DataError, DriftlineError, IntegrityError
from driftline.scores import BatchScorer

__all__ = ["LiteRTScorer"]

logger = logging.getLogger(__name__)
_INSTALL_HINT = "pip install 'ai-edge-litert>=2.3,<3'"


class LiteRTScorer(BatchScorer):
    """Probabilities from a LiteRT flatbuffer (see ``BatchScorer``). The interpreter holds one input shape at a
    time, so a batch of another size resizes it first; it is not thread-safe, hence the (uncontended) lock."""

    runtime = "litert"

    def __init__(self, flatbuffer: bytes, width: int) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as exc:
            raise DriftlineError(f"LiteRT's runtime is not installed; serving needs it: {_INSTALL_HINT}") from exc
        if width < 1:
            raise DataError(f"scorer width should be a positive number of columns, found {width}")
        try:
            self._interpreter = Interpreter(model_content=bytes(flatbuffer), num_threads=1)
            inputs = self._interpreter.get_input_details()
            outputs = self._interpreter.get_output_details()
        except (ValueError, RuntimeError) as exc:
            raise IntegrityError(f"the LiteRT flatbuffer cannot be loaded: {exc}") from exc
        if len(inputs) != 1 or len(outputs) != 1:
            raise IntegrityError(
                f"the LiteRT model should have one input and one output, found {len(inputs)} and {len(outputs)}"
            )
        declared = tuple(int(d) for d in inputs[0]["shape"])
        if len(declared) != 2 or declared[1] != width:
            raise IntegrityError(f"the LiteRT model takes input {declared}, the preprocessing gives (n, {width})")
        out_shape = tuple(int(d) for d in outputs[0]["shape"])
        if len(out_shape) != 2 or out_shape[1] < 1:
            raise IntegrityError(f"the LiteRT model should return (batch, k) probabilities, found {out_shape}")
        self.width = int(width)
        self.n_outputs = out_shape[1]
        self._source = inputs[0]["index"]
        self._sink = outputs[0]["index"]
        self._rows = -1  # the batch size the interpreter is allocated for
        self._lock = threading.Lock()
        self._run = self.run
        logger.info("LiteRT scorer ready width=%d outputs=%d", self.width, self.n_outputs)

    def run(self, X: np.ndarray) -> np.ndarray:
        """The interpreter's raw output, ``(n, k)`` float32, for a non-empty float32 batch."""
        with self._lock:
            if X.shape[0] != self._rows:
                self._interpreter.resize_tensor_input(self._source, [X.shape[0], self.width])
                self._interpreter.allocate_tensors()
                self._rows = X.shape[0]
            self._interpreter.set_tensor(self._source, X)
            self._interpreter.invoke()
            return np.array(self._interpreter.get_tensor(self._sink))  # a copy: the next call reuses the buffer
