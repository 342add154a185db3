"""The Keras MLP as an ONNX model: a portable copy of a version, scored by onnxruntime or any ONNX runtime.

The graph is built from the model's layers and weights with the ``onnx`` package's helper API, not by a converter
that reads TensorFlow's graph (``tf2onnx``, which Keras's own ``export(format="onnx")`` calls): the trainer's models
(``trainer.training.build_model``) are a chain of ``Dense`` layers (ReLU, sigmoid, softmax or linear) with
``Dropout`` between them, and each maps onto one ONNX ``Gemm`` and one activation (dropout is the identity when
scoring). Any other layer, activation or a graph that is not a single chain is refused with the layer's name.
The bytes depend only on the weights, so the same model always gives the same file (and hash). Whether the ONNX
model scores like the Keras one is checked against the version's golden records, as for the LiteRT flatbuffer.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from driftline.errors import DriftlineError, IntegrityError
from driftline.modelio import require_keras

__all__ = ["INPUT_NAME", "ONNX_FILE", "OPSET", "OUTPUT_NAME", "onnx_bytes"]

ONNX_FILE = "model.onnx"
INPUT_NAME = "features"
OUTPUT_NAME = "probabilities"
# ONNX opset 17 and IR version 8: onnxruntime has run them since 1.13 (2022), so the file is portable to older
# runtimes as well as this one; the graph needs nothing newer.
OPSET = 17
IR_VERSION = 8
_ACTIVATIONS = {"relu": "Relu", "sigmoid": "Sigmoid", "softmax": "Softmax", "linear": None}
_INSTALL_HINT = "pip install 'driftline[ml]'"


def onnx_bytes(model: Any) -> bytes:
    """The Keras ``model`` (a chain of Dense and Dropout layers) as a serialised ONNX model: input ``features``
    float32 ``(batch, width)``, output ``probabilities`` float32 ``(batch, k)``. IntegrityError for a model of
    other layers."""
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError as exc:
        raise DriftlineError(f"the onnx package is not installed; exporting to ONNX needs it: {_INSTALL_HINT}") from exc
    dense_layers = _dense_chain(model)
    width = int(dense_layers[0].kernel.shape[0])
    nodes: list[Any] = []
    weights: list[Any] = []
    current = INPUT_NAME
    for i, layer in enumerate(dense_layers):
        kernel = np.asarray(layer.kernel.numpy(), dtype=np.float32)
        weights.append(numpy_helper.from_array(kernel, name=f"{layer.name}/kernel"))
        inputs = [current, f"{layer.name}/kernel"]
        if layer.use_bias:
            weights.append(numpy_helper.from_array(np.asarray(layer.bias.numpy(), dtype=np.float32),
                                                   name=f"{layer.name}/bias"))  # fmt: skip
            inputs.append(f"{layer.name}/bias")
        op = _ACTIVATIONS[layer.get_config()["activation"]]
        last = i == len(dense_layers) - 1
        linear_out = OUTPUT_NAME if last and op is None else f"{layer.name}/linear"
        nodes.append(helper.make_node("Gemm", inputs, [linear_out], name=f"{layer.name}/gemm"))
        current = linear_out
        if op is not None:
            out = OUTPUT_NAME if last else f"{layer.name}/output"
            node = helper.make_node(op, [current], [out], name=f"{layer.name}/{op.lower()}")
            if op == "Softmax":
                node.attribute.append(helper.make_attribute("axis", -1))
            nodes.append(node)
            current = out
    n_outputs = int(dense_layers[-1].kernel.shape[1])
    graph = helper.make_graph(
        nodes,
        str(model.name),
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["batch", width])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", n_outputs])],
        initializer=weights,
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="driftline",
                              ir_version=IR_VERSION)  # fmt: skip
    onnx.checker.check_model(proto, full_check=True)
    return bytes(proto.SerializeToString(deterministic=True))


def _dense_chain(model: Any) -> list[Any]:
    """The model's Dense layers in order, after checking that it is one chain of Dense and Dropout layers."""
    keras = require_keras()
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise IntegrityError(
            f"ONNX export takes a model with one input and one output, found {len(model.inputs)} and "
            f"{len(model.outputs)}"
        )
    dense: list[Any] = []
    tensor = model.inputs[0]
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if not isinstance(layer, keras.layers.Dense | keras.layers.Dropout):
            raise IntegrityError(
                f"ONNX export supports Dense and Dropout layers only (the trainer's MLP), found layer "
                f"{layer.name!r} of type {type(layer).__name__}"
            )
        if layer.input is not tensor:
            raise IntegrityError(f"ONNX export takes a single chain of layers; layer {layer.name!r} branches off it")
        tensor = layer.output
        if isinstance(layer, keras.layers.Dense):
            activation = layer.get_config()["activation"]
            if activation not in _ACTIVATIONS:
                raise IntegrityError(
                    f"ONNX export supports the activations {sorted(_ACTIVATIONS)}, found {activation!r} on layer "
                    f"{layer.name!r}"
                )
            dense.append(layer)
    if tensor is not model.outputs[0] or not dense:
        raise IntegrityError("ONNX export takes a chain of Dense layers from the model's input to its output")
    return dense
