"""The trainer's Keras models as ONNX: a portable copy of a version, scored by onnxruntime or any ONNX runtime.

The graph is built from the model's layers and weights with the ``onnx`` package's helper API, not by a converter
that reads TensorFlow's graph (``tf2onnx``, which Keras's own ``export(format="onnx")`` calls). The trainer's models
(``trainer.training.build_model``) are one chain of a few built-in layers, each mapped onto ONNX operators:

- ``Dense`` (ReLU, sigmoid, softmax or linear): ``Gemm`` and the activation;
- ``Dropout``: nothing (the identity when scoring);
- ``Reshape`` of the flat input to an image ``(h, w, c)``: ``Reshape``, then ``Transpose`` to NCHW, the layout
  ONNX's convolutions take;
- ``Conv2D`` (valid or same padding, any strides and dilation, ReLU, sigmoid or linear): ``Conv`` with the kernel
  transposed from Keras's ``(kh, kw, in, out)`` to ``(out, in, kh, kw)`` and TensorFlow's same padding (the odd pixel
  at the end) written out as explicit pads;
- ``MaxPooling2D``: ``MaxPool``, padded the same way;
- ``Flatten``: ``Transpose`` back to NHWC first, so the flat order is Keras's ``(h, w, c)``, then ``Flatten``.

Any other layer, activation or option, or a graph that is not a single chain, is refused with the layer's name.
The bytes depend only on the weights, so the same model always gives the same file (and hash). Whether the ONNX
model scores like the Keras one is checked against the version's golden records, as for the LiteRT flatbuffer.
"""

from __future__ import annotations

import math
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
_CONV_ACTIVATIONS = ("linear", "relu", "sigmoid")  # element-wise: the same in NCHW as in NHWC
_LAYERS = ("Conv2D", "Dense", "Dropout", "Flatten", "MaxPooling2D", "Reshape")
_INSTALL_HINT = "pip install 'driftline[ml]'"


def onnx_bytes(model: Any) -> bytes:
    """The Keras ``model`` (one chain of the layers above) as a serialised ONNX model: input ``features`` float32
    ``(batch, width)``, output ``probabilities`` float32 ``(batch, k)``. IntegrityError for a model it cannot map."""
    try:
        import onnx
        from onnx import TensorProto, helper
    except ImportError as exc:
        raise DriftlineError(f"the onnx package is not installed; exporting to ONNX needs it: {_INSTALL_HINT}") from exc
    layers = _chain(model)
    width = int(model.inputs[0].shape[-1])
    graph = _Graph()
    for layer in layers:
        _EMIT[type(layer).__name__](graph, layer)
    if graph.layout != "flat" or not graph.nodes:
        raise IntegrityError("ONNX export takes a model that ends in a Dense layer giving (batch, k) outputs")
    graph.nodes[-1].output[0] = OUTPUT_NAME
    n_outputs = int(model.outputs[0].shape[-1])
    proto_graph = helper.make_graph(
        graph.nodes,
        str(model.name),
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["batch", width])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", n_outputs])],
        initializer=graph.weights,
    )
    proto = helper.make_model(proto_graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="driftline", ir_version=IR_VERSION)  # fmt: skip
    onnx.checker.check_model(proto, full_check=True)
    return bytes(proto.SerializeToString(deterministic=True))


class _Graph:
    """The nodes and weights built so far, and the tensor the next layer reads: its name and layout ("flat" for
    ``(batch, n)``, "nchw" for an image-shaped tensor, held in ONNX's channels-first order)."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.weights: list[Any] = []
        self.current = INPUT_NAME
        self.layout = "flat"

    def weight(self, name: str, values: Any, dtype: type = np.float32) -> str:
        from onnx import numpy_helper

        self.weights.append(numpy_helper.from_array(np.asarray(values, dtype=dtype), name=name))
        return name

    def node(self, op: str, inputs: list[str], output: str, name: str, **attributes: Any) -> None:
        from onnx import helper

        self.nodes.append(helper.make_node(op, inputs, [output], name=name, **attributes))
        self.current = output

    def activation(self, layer: Any, linear_out: str) -> None:
        """The layer's activation after its linear node (whose output is ``linear_out``), if not linear."""
        op = _ACTIVATIONS[layer.get_config()["activation"]]
        if op is None:
            return
        attributes = {"axis": -1} if op == "Softmax" else {}
        self.node(op, [linear_out], f"{layer.name}/output", f"{layer.name}/{op.lower()}", **attributes)


def _dense(graph: _Graph, layer: Any) -> None:
    if graph.layout != "flat":
        raise IntegrityError(f"ONNX export takes Dense layers on flat inputs; layer {layer.name!r} gets an image "
                             "(add a Flatten before it)")  # fmt: skip
    inputs = [graph.current, graph.weight(f"{layer.name}/kernel", layer.kernel.numpy())]
    if layer.use_bias:
        inputs.append(graph.weight(f"{layer.name}/bias", layer.bias.numpy()))
    graph.node("Gemm", inputs, f"{layer.name}/linear", f"{layer.name}/gemm")
    graph.activation(layer, f"{layer.name}/linear")


def _dropout(graph: _Graph, layer: Any) -> None:
    """The identity when scoring: no node."""


def _reshape(graph: _Graph, layer: Any) -> None:
    target = tuple(int(d) for d in layer.output.shape[1:])
    if graph.layout != "flat" or len(target) not in (1, 3):
        raise IntegrityError(f"ONNX export takes a Reshape of flat inputs to (height, width, channels) only; layer "
                             f"{layer.name!r} reshapes to {target}")  # fmt: skip
    if len(target) == 1:
        return  # flat to flat: nothing changes
    shape = graph.weight(f"{layer.name}/shape", [-1, *target], dtype=np.int64)
    graph.node("Reshape", [graph.current, shape], f"{layer.name}/nhwc", f"{layer.name}/reshape")
    graph.node("Transpose", [graph.current], f"{layer.name}/nchw", f"{layer.name}/to_nchw", perm=[0, 3, 1, 2])
    graph.layout = "nchw"


def _conv2d(graph: _Graph, layer: Any) -> None:
    config = _image_layer_config(graph, layer)
    if config["groups"] != 1 or config["activation"] not in _CONV_ACTIVATIONS:
        raise IntegrityError(f"ONNX export takes Conv2D layers with groups 1 and activation one of "
                             f"{list(_CONV_ACTIVATIONS)}; layer {layer.name!r} has groups {config['groups']} and "
                             f"activation {config['activation']!r}")  # fmt: skip
    kernel = np.transpose(layer.kernel.numpy(), (3, 2, 0, 1))  # (kh, kw, in, out) → (out, in, kh, kw)
    inputs = [graph.current, graph.weight(f"{layer.name}/kernel", kernel)]
    if layer.use_bias:
        inputs.append(graph.weight(f"{layer.name}/bias", layer.bias.numpy()))
    kernel_shape, strides, dilations = (list(config[k]) for k in ("kernel_size", "strides", "dilation_rate"))
    pads = _pads(layer, kernel_shape, strides, dilations, config["padding"])
    graph.node("Conv", inputs, f"{layer.name}/linear", f"{layer.name}/conv", kernel_shape=kernel_shape,
               strides=strides, dilations=dilations, pads=pads)  # fmt: skip
    graph.activation(layer, f"{layer.name}/linear")


def _max_pooling2d(graph: _Graph, layer: Any) -> None:
    config = _image_layer_config(graph, layer)
    kernel_shape = list(config["pool_size"])
    strides = list(config["strides"] or kernel_shape)
    pads = _pads(layer, kernel_shape, strides, [1, 1], config["padding"])
    graph.node("MaxPool", [graph.current], f"{layer.name}/output", f"{layer.name}/maxpool", kernel_shape=kernel_shape,
               strides=strides, pads=pads)  # fmt: skip


def _flatten(graph: _Graph, layer: Any) -> None:
    if graph.layout == "flat":
        return
    if layer.get_config().get("data_format", "channels_last") != "channels_last":
        raise IntegrityError(f"ONNX export takes channels_last layers only; layer {layer.name!r} is channels_first")
    # Keras flattens (h, w, c) row-major: back to NHWC before ONNX's Flatten, or the Dense weights see a shuffle
    graph.node("Transpose", [graph.current], f"{layer.name}/nhwc", f"{layer.name}/to_nhwc", perm=[0, 2, 3, 1])
    graph.node("Flatten", [graph.current], f"{layer.name}/output", f"{layer.name}/flatten", axis=1)
    graph.layout = "flat"


_EMIT = {"Conv2D": _conv2d, "Dense": _dense, "Dropout": _dropout, "Flatten": _flatten,
         "MaxPooling2D": _max_pooling2d, "Reshape": _reshape}  # fmt: skip


def _image_layer_config(graph: _Graph, layer: Any) -> dict[str, Any]:
    config: dict[str, Any] = layer.get_config()
    if graph.layout != "nchw":
        raise IntegrityError(f"ONNX export takes {type(layer).__name__} layers on images; layer {layer.name!r} "
                             "gets flat inputs (add a Reshape before it)")  # fmt: skip
    if config.get("data_format", "channels_last") != "channels_last":
        raise IntegrityError(f"ONNX export takes channels_last layers only; layer {layer.name!r} is channels_first")
    if config["padding"] not in ("valid", "same"):
        raise IntegrityError(f"ONNX export takes valid or same padding; layer {layer.name!r} has "
                             f"{config['padding']!r}")  # fmt: skip
    return config


def _pads(layer: Any, kernel: list[int], strides: list[int], dilations: list[int], padding: str) -> list[int]:
    """ONNX pads ``[top, left, bottom, right]``: none for valid; for same, TensorFlow's (output ``ceil(in /
    stride)``, the odd pixel at the bottom or right)."""
    if padding == "valid":
        return [0, 0, 0, 0]
    begin, end = [], []
    for size, k, s, d in zip(layer.input.shape[1:3], kernel, strides, dilations, strict=True):
        total = max((math.ceil(int(size) / s) - 1) * s + (k - 1) * d + 1 - int(size), 0)
        begin.append(total // 2)
        end.append(total - total // 2)
    return [*begin, *end]


def _chain(model: Any) -> list[Any]:
    """The model's layers in order, after checking that it is one chain of layers this module maps."""
    keras = require_keras()
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise IntegrityError(
            f"ONNX export takes a model with one input and one output, found {len(model.inputs)} and "
            f"{len(model.outputs)}"
        )
    if len(model.inputs[0].shape) != 2:
        raise IntegrityError(f"ONNX export takes a model of flat (batch, width) input, found {model.inputs[0].shape}")
    chain: list[Any] = []
    tensor = model.inputs[0]
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        kind = type(layer).__name__
        if kind not in _EMIT or not isinstance(layer, getattr(keras.layers, kind)):
            raise IntegrityError(
                f"ONNX export supports the layers {', '.join(_LAYERS)} only (the trainer's MLP and CNN), found "
                f"layer {layer.name!r} of type {kind}"
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
        chain.append(layer)
    if tensor is not model.outputs[0] or not any(isinstance(layer, keras.layers.Dense) for layer in chain):
        raise IntegrityError("ONNX export takes a chain of layers ending in Dense from the model's input to its output")
    return chain
