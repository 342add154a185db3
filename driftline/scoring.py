"""Scoring a Keras model in the trainer: one ``tf.function``, and the LiteRT flatbuffer it compiles to (DESIGN 4).

``model.predict`` builds a data pipeline on every call, which dominates a micro-batch of a few hundred rows. One
``tf.function``, traced once for ``[None, width]`` float32 input, serves every batch size without retracing, but
TensorFlow's own dispatch still costs far more per call than the model's arithmetic. So the model is also
converted to a LiteRT (TensorFlow Lite) flatbuffer, the artifact a release ships as ``model.tflite`` and workers
run without TensorFlow (:mod:`driftline.litert`). The compiled model is used only if it agrees with the
``tf.function`` on a probe batch; otherwise (or if the model does not convert) the ``tf.function`` scores, the log
says why, and the model cannot be released. The ``tf.function`` stays the source of truth: golden records take
their expected outputs from it. TensorFlow is imported when a Scorer is built, never at module import.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from driftline.errors import DataError, IntegrityError
from driftline.litert import LiteRTScorer
from driftline.modelio import require_keras
from driftline.scores import BatchScorer
from driftline.tf_noise import native_output_filtered

__all__ = ["Scorer", "compile_flatbuffer"]

logger = logging.getLogger(__name__)
# The compiled model must give the tf.function's scores on the probe batch within this (float32 rounding differs
# by a few ulp between the two kernels' summation orders). The CNN's convolutions stay well inside it too, so one
# tolerance serves both models (measured by `python -m bench.cnn`, figures in docs/performance.md).
LITERT_TOLERANCE = 1e-5
PROBE_ROWS = 64

Runner = Callable[[np.ndarray], np.ndarray]


class Scorer(BatchScorer):
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
        self.flatbuffer: bytes | None = None  # the LiteRT model, when it converts and agrees
        if runtime == "litert":
            with native_output_filtered():  # the converter's and the interpreter's chatter on fds 1 and 2
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
            flatbuffer = compile_flatbuffer(model)
            run = LiteRTScorer(flatbuffer, self.width).run
        except Exception as exc:  # the converter's errors are of many kinds; any means: serve with the function
            return f"it does not convert: {exc.__class__.__name__}: {str(exc)[:300]}"
        probe = np.random.default_rng(0).normal(size=(PROBE_ROWS, self.width)).astype(np.float32)
        compiled, expected = run(probe), self._tensorflow(probe)
        if compiled.shape != expected.shape:
            return f"it gives shape {compiled.shape}, the function {expected.shape}"
        gap = float(np.max(np.abs(compiled - expected))) if np.isfinite(compiled).all() else float("inf")
        if not gap <= LITERT_TOLERANCE:
            return f"it disagrees with the function by {gap:.3g} on the probe batch"
        self._run, self.runtime, self.flatbuffer = run, "litert", flatbuffer
        return ""

    @property
    def tracing_count(self) -> int:
        """How many times the ``tf.function`` was traced: 1 for a Scorer's life, whatever the batch sizes."""
        return int(self._fn.experimental_get_tracing_count())

    def reference(self, X: np.ndarray) -> np.ndarray:
        """The Keras model's own outputs (the ``tf.function``), shaped as ``__call__``'s: golden records' truth."""
        out = self._tensorflow(np.asarray(X, dtype=np.float32)).astype(np.float64)
        return out[:, 0] if self.binary else out


def compile_flatbuffer(model: Any) -> bytes:
    """The Keras model as a LiteRT flatbuffer (TensorFlow's converter): what a release ships as ``model.tflite``."""
    import tensorflow as tf

    return bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())


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
