"""Scoring: a Keras model, compiled by TensorFlow's LiteRT converter, or behind one ``tf.function`` (DESIGN 4).

``model.predict`` builds a data pipeline on every call, which dominates a micro-batch of a few hundred rows. One
``tf.function``, traced once for ``[None, width]`` float32 input, serves every batch size without retracing, but
TensorFlow's own dispatch still costs far more per call than the model's arithmetic. So the model is also
converted to a LiteRT (TensorFlow Lite) flatbuffer and run by LiteRT's interpreter on the calling thread
(docs/performance.md has the figures). The compiled model is used only if it agrees with the ``tf.function`` on a
probe batch; otherwise (or if the model does not convert) the ``tf.function`` serves, and the log says why.
TensorFlow is imported when a Scorer is built, never at module import.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from driftline.errors import DataError, IntegrityError
from driftline.modelio import require_keras

__all__ = ["Scorer"]

logger = logging.getLogger(__name__)

_PROBABILITY_SLACK = (
    1e-4  # float32 sigmoid/softmax outputs may overshoot [0, 1] or miss a sum of 1 by rounding
)
# The compiled model must give the tf.function's scores on the probe batch within this (float32 rounding differs
# by a few ulp between the two kernels' summation orders).
LITERT_TOLERANCE = 1e-5
PROBE_ROWS = 64

Runner = Callable[[np.ndarray], np.ndarray]


class Scorer:
    """Probabilities from a Keras model for float32 batches of shape ``(n, width)``.

    Binary models (one sigmoid unit) give shape ``(n,)``: the positive-class probability. Multiclass models
    (softmax over k units) give ``(n, k)``. Outputs are float64. The model is called with ``training=False``.
    Traces (and compiles) once, at construction, so shape problems surface when the model is loaded, not on the
    first batch. ``runtime`` is "litert" (compiled, if it converts and agrees) or "tensorflow" (the function).
    """

    def __init__(self, model: Any, width: int, *, runtime: str = "litert") -> None:
        keras = require_keras()
        if keras.backend.backend() != "tensorflow":
            raise IntegrityError(
                f"Scorer needs the Keras 'tensorflow' backend, found {keras.backend.backend()!r}"
            )
        import tensorflow as tf

        if width < 1:
            raise DataError(f"Scorer width should be a positive number of columns, found {width}")
        declared = _declared_width(model)
        if declared is not None and declared != width:
            raise IntegrityError(f"model expects {declared} input columns, the preprocessing gives {width}")
        self.model = model
        self.width = int(width)

        def forward(x: Any) -> Any:
            return model(x, training=False)

        self._fn = tf.function(forward, input_signature=[tf.TensorSpec([None, self.width], tf.float32)])
        try:
            # Calling the concrete function skips tf.function's argument matching on every call.
            self._concrete = self._fn.get_concrete_function()
            output = self._concrete.structured_outputs
        except Exception as exc:  # tracing runs the model's code: any failure means this model cannot serve
            raise IntegrityError(
                f"model cannot be traced for input (None, {self.width}) float32: {exc}"
            ) from exc
        if not isinstance(output, tf.Tensor) or output.shape.rank != 2 or output.shape[-1] is None:
            raise IntegrityError(
                f"model should return one (batch, k) tensor of probabilities, found {_describe(output)}"
            )
        self.n_outputs = int(output.shape[-1])
        self._run: Runner = self._tensorflow
        self.runtime = "tensorflow"
        if runtime == "litert":
            why_not = self._use_litert(model)
            if why_not:
                logger.warning("model not compiled for LiteRT (%s); scoring with the tf.function", why_not)
        elif runtime != "tensorflow":
            raise ValueError(f"runtime should be 'litert' or 'tensorflow', found {runtime!r}")
        logger.info("scorer ready width=%d outputs=%d runtime=%s", self.width, self.n_outputs, self.runtime)

    def _tensorflow(self, X: np.ndarray) -> np.ndarray:
        return self._concrete(X).numpy()

    def _use_litert(self, model: Any) -> str:
        """Compile the model and switch to it if it agrees with the function; else say why not ("" if it did)."""
        try:
            run = compile_litert(model, self.width)
        except Exception as exc:  # the converter's errors are of many kinds; any means: serve with the function
            return f"it does not convert: {exc.__class__.__name__}: {str(exc)[:300]}"
        probe = np.random.default_rng(0).normal(size=(PROBE_ROWS, self.width)).astype(np.float32)
        compiled, expected = run(probe), self._tensorflow(probe)
        if compiled.shape != expected.shape:
            return f"it gives shape {compiled.shape}, the function {expected.shape}"
        gap = float(np.max(np.abs(compiled - expected))) if np.isfinite(compiled).all() else float("inf")
        if not gap <= LITERT_TOLERANCE:
            return f"it disagrees with the function by {gap:.3g} on the probe batch"
        self._run, self.runtime = run, "litert"
        return ""

    @property
    def binary(self) -> bool:
        """True for a single-unit (sigmoid) model, whose scores have shape ``(n,)``."""
        return self.n_outputs == 1

    @property
    def tracing_count(self) -> int:
        """How many times the ``tf.function`` was traced: 1 for a Scorer's life, whatever the batch sizes."""
        return int(self._fn.experimental_get_tracing_count())

    def output_shape(self, n: int) -> tuple[int, ...]:
        """The shape of the scores for ``n`` rows."""
        return (n,) if self.binary else (n, self.n_outputs)

    def __call__(self, X: np.ndarray) -> np.ndarray:
        """Score a batch: ``(n, width)`` features in, float64 probabilities out. Empty batches skip TF."""
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.width:
            raise DataError(f"expected a batch of shape (n, {self.width}), found {X.shape}")
        if X.shape[0] == 0:
            return np.empty(self.output_shape(0), dtype=np.float64)
        if X.dtype != np.float32:
            X = X.astype(np.float32)
        out = self._run(X).astype(np.float64)
        return out[:, 0] if self.binary else out

    def warm_up(self, X: np.ndarray) -> np.ndarray:
        """Score ``X`` (the reference sample); check the scores are finite probabilities of the right shape.

        Run before a model goes live: a model with NaN weights or an unexpected head is refused
        (IntegrityError) while the previous model keeps serving.
        """
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[0] == 0:
            raise DataError(f"warm-up needs a non-empty batch of shape (n, {self.width}), found {X.shape}")
        scores = self(X)
        expected = self.output_shape(X.shape[0])
        if scores.shape != expected:
            raise IntegrityError(f"warm-up: expected scores of shape {expected}, found {scores.shape}")
        bad = ~np.isfinite(scores)
        if bad.any():
            raise IntegrityError(
                f"warm-up: expected finite scores, found {int(bad.sum())} non-finite of {scores.size} "
                f"(first at row {int(np.argwhere(bad)[0][0])})"
            )
        low, high = float(scores.min()), float(scores.max())
        if low < -_PROBABILITY_SLACK or high > 1 + _PROBABILITY_SLACK:
            raise IntegrityError(
                f"warm-up: expected probabilities in [0, 1], found values in [{low:.4g}, {high:.4g}]"
            )
        if not self.binary:
            sums = scores.sum(axis=1)
            worst = float(np.abs(sums - 1).max())
            if worst > _PROBABILITY_SLACK * self.n_outputs:
                raise IntegrityError(
                    f"warm-up: expected class probabilities summing to 1 (softmax), found a row summing to "
                    f"{float(sums[np.abs(sums - 1).argmax()]):.6g}"
                )
        logger.info("warm-up passed rows=%d score_range=[%.4g, %.4g]", X.shape[0], low, high)
        return scores


def compile_litert(model: Any, width: int) -> Runner:
    """The model as a LiteRT flatbuffer (TensorFlow's converter), run on the calling thread by LiteRT's interpreter.

    The interpreter holds one input shape at a time: a batch of another size resizes it first. It is
    not thread-safe, hence the lock (uncontended: one event loop scores).
    """
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    flatbuffer = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    interpreter = Interpreter(model_content=flatbuffer, num_threads=1)
    source = interpreter.get_input_details()[0]["index"]
    sink = interpreter.get_output_details()[0]["index"]
    rows = -1  # the batch size the interpreter is allocated for
    lock = threading.Lock()

    def run(X: np.ndarray) -> np.ndarray:
        nonlocal rows
        with lock:
            if X.shape[0] != rows:
                interpreter.resize_tensor_input(source, [X.shape[0], width])
                interpreter.allocate_tensors()
                rows = X.shape[0]
            interpreter.set_tensor(source, X)
            interpreter.invoke()
            return np.asarray(interpreter.get_tensor(sink))  # a copy: the next call reuses the buffer

    return run


def _declared_width(model: Any) -> int | None:
    """The model's declared input width, when it has a single (batch, width) input."""
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        return None
    if not inputs or len(inputs) != 1:
        return None
    shape = tuple(inputs[0].shape)
    return int(shape[-1]) if len(shape) == 2 and shape[-1] is not None else None


def _describe(output: Any) -> str:
    shape = getattr(output, "shape", None)
    return f"{type(output).__name__} of shape {tuple(shape)}" if shape is not None else type(output).__name__
