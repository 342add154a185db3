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

__all__ = ["LiteRTScorer", "check_scores"]

logger = logging.getLogger(__name__)

# float32 sigmoid/softmax outputs may overshoot [0, 1] or miss a sum of 1 by rounding
PROBABILITY_SLACK = 1e-4
_INSTALL_HINT = "pip install 'ai-edge-litert>=2.3,<3'"


class LiteRTScorer:
    """Probabilities from a LiteRT flatbuffer for float32 batches of shape ``(n, width)``.

    Binary models (one sigmoid unit) give shape ``(n,)``: the positive-class probability; multiclass models
    (softmax over k units) give ``(n, k)``. Outputs are float64. The interpreter holds one input shape at a
    time, so a batch of another size resizes it first; it is not thread-safe, hence the (uncontended) lock.
    """

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
        logger.info("LiteRT scorer ready width=%d outputs=%d", self.width, self.n_outputs)

    @property
    def binary(self) -> bool:
        """True for a single-unit (sigmoid) model, whose scores have shape ``(n,)``."""
        return self.n_outputs == 1

    def output_shape(self, n: int) -> tuple[int, ...]:
        """The shape of the scores for ``n`` rows."""
        return (n,) if self.binary else (n, self.n_outputs)

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

    def __call__(self, X: np.ndarray) -> np.ndarray:
        """Score a batch: ``(n, width)`` features in, float64 probabilities out."""
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.width:
            raise DataError(f"expected a batch of shape (n, {self.width}), found {X.shape}")
        if X.shape[0] == 0:
            return np.empty(self.output_shape(0), dtype=np.float64)
        out = self.run(np.ascontiguousarray(X, dtype=np.float32)).astype(np.float64)
        return out[:, 0] if self.binary else out

    def warm_up(self, X: np.ndarray) -> np.ndarray:
        """Score ``X`` (the reference sample) and check the scores (see ``check_scores``) before going live."""
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[0] == 0:
            raise DataError(f"warm-up needs a non-empty batch of shape (n, {self.width}), found {X.shape}")
        return check_scores(self(X), self.output_shape(X.shape[0]), binary=self.binary)


def check_scores(scores: np.ndarray, expected_shape: tuple[int, ...], *, binary: bool) -> np.ndarray:
    """``scores`` if they are finite probabilities of ``expected_shape`` (softmax rows summing to 1), else
    IntegrityError: a model with NaN weights or an unexpected head is refused while the old one serves."""
    if scores.shape != expected_shape:
        raise IntegrityError(f"warm-up: expected scores of shape {expected_shape}, found {scores.shape}")
    bad = ~np.isfinite(scores)
    if bad.any():
        raise IntegrityError(
            f"warm-up: expected finite scores, found {int(bad.sum())} non-finite of {scores.size} "
            f"(first at row {int(np.argwhere(bad)[0][0])})"
        )
    low, high = float(scores.min()), float(scores.max())
    if low < -PROBABILITY_SLACK or high > 1 + PROBABILITY_SLACK:
        raise IntegrityError(f"warm-up: expected probabilities in [0, 1], found values in [{low:.4g}, {high:.4g}]")
    if not binary:
        sums = scores.sum(axis=1)
        if float(np.abs(sums - 1).max()) > PROBABILITY_SLACK * scores.shape[1]:
            raise IntegrityError(
                f"warm-up: expected class probabilities summing to 1 (softmax), found a row summing to "
                f"{float(sums[np.abs(sums - 1).argmax()]):.6g}"
            )
    logger.info("warm-up passed rows=%d score_range=[%.4g, %.4g]", scores.shape[0], low, high)
    return scores
