"""`export_onnx`: a model written as an ONNX file, which onnxruntime runs on servers, GPUs and phones.

The file takes the model's own inputs, named as its `Input`s ("input" for a `Sequential`), shaped
(batch, ...) with a symbolic batch ("batch"), images channels-last as here: ONNX's Conv and pools
take channels-first images, so each runs between two Transposes (onnxruntime's optimizer cancels the
pairs that meet). Weights are stored as initializers named as the model's parameters ("0.W"; a
Conv2D's W transposed to ONNX's (filters, C_in, kh, kw)), a shared layer's once. BatchNorm and
Dropout are written in their inference form (BatchNorm as x·scale + shift from its running
statistics, Dropout as the identity), as `predict` runs them. An input that feeds an `Embedding`
takes int64 indices (a Gather of W's rows; `predict` takes any integers: cast others to int64).
"""

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper

from framework.core.arrays import Array
from framework.core.errors import ValueRangeError
from framework.core.layer import Module
from framework.core.protocols import Network
from framework.export.graph import Call, Dims, program, refuse_unknown
from framework.layers import (
    ELU, GELU, Add, AvgPool2D, BatchNorm, Concatenate, Conv2D, Dense, Dropout, Embedding, Flatten, GlobalAvgPool2D,
    GlobalMaxPool2D, Identity, LayerNorm, LeakyReLU, MaxPool2D, Multiply, Normalization, ReLU, Reshape, Sigmoid, SiLU,
    Softmax, Softplus, Swish, Tanh,
)
from framework.layers import images

OPSET = 21
"""The ONNX operator set the file declares (ONNX 1.16's). The tests run it on onnxruntime 1.31.1; any
onnxruntime since 1.18, the first of ONNX 1.16, should run it: a file made here is not tied to the
newest runtime."""
IR_VERSION = 10
"""The file format of ONNX 1.16, the release of `OPSET`."""

_ELEMENT = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.float64): TensorProto.DOUBLE}


def export_onnx(model: Network, path: str | os.PathLike[str], *, dtype: npt.DTypeLike = np.float32) -> Path:
    """Write `model` to `path` as ONNX (opset `OPSET`), its weights cast to `dtype`; return the path.

    float32 by default, as the model is deployed: onnxruntime lacks float64 kernels for several
    operators (on its CPU: Conv, AveragePool, LeakyRelu, Elu, Softplus and the Erf of GELU's exact
    form, in onnxruntime 1.31), so a float64 file of a convnet does not load there. `dtype=np.float64`
    writes one for the models it can run; ONNX's attributes are float32, so LayerNorm's epsilon (unless
    a binary fraction such as 0.5) and the constants of GELU's tanh form put such a file 1e-9 off.
    A layer that is not built in (a custom one) is refused, by name, before anything is written.
    """
    dt = np.dtype(dtype)
    if dt not in _ELEMENT:
        raise ValueRangeError(f"export: dtype must be float32 or float64, got {dt}")
    prog = program(model)
    refuse_unknown(prog, _TRANSLATIONS, "export(format='onnx')")
    graph = _OnnxGraph(dt)
    for call in prog.calls:
        _TRANSLATIONS[type(call.layer)](graph, call.layer, call)
    shapes = {name: shape for name, shape in prog.inputs} | {call.output: call.output_shape for call in prog.calls}
    taken = {*shapes, *graph.names}
    outputs = []
    for i, value in enumerate(prog.outputs):
        name = "output" if i == 0 else f"output_{i}"
        while name in taken:
            name += "_"
        graph.node("Identity", [value], name)
        outputs.append(graph.value_info(name, shapes[value]))
    indices = {v for call in prog.calls if call.layer.takes_indices for v in call.inputs}  # an Embedding's
    inputs = [graph.value_info(n, s, TensorProto.INT64 if n in indices else None) for n, s in prog.inputs]
    proto = helper.make_model(
        helper.make_graph(graph.nodes, type(model).__name__, inputs, outputs,
                          initializer=list(graph.initializers.values())),
        opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION, producer_name="framework",
    )
    onnx.checker.check_model(proto, full_check=True)  # the operators' types and shapes, by onnx's inference
    target = Path(path)
    onnx.save(proto, target)
    return target


@attrs.define
class _OnnxGraph:
    """The nodes and initializers of the file under construction, and the names they use."""

    dtype: np.dtype[Any]
    nodes: list[onnx.NodeProto] = attrs.Factory(list)
    initializers: dict[str, onnx.TensorProto] = attrs.Factory(dict)
    names: set[str] = attrs.Factory(set)

    def weight(self, name: str, value: Array) -> str:
        """An initializer of `value` in the file's dtype, written once however often it is used."""
        if name not in self.initializers:
            self.initializers[name] = numpy_helper.from_array(np.asarray(value, dtype=self.dtype), name)
        return name

    def ints(self, name: str, values: Sequence[int]) -> str:
        """An int64 initializer (axes, a shape)."""
        if name not in self.initializers:
            self.initializers[name] = numpy_helper.from_array(np.asarray(values, dtype=np.int64), name)
        return name

    def node(self, op: str, inputs: Sequence[str], output: str, **attributes: Any) -> str:
        """Append an `op` node of `inputs`, giving `output` (made unique); return the output's name."""
        name, i = output, 0
        while name in self.names:
            i += 1
            name = f"{output}_{i}"
        self.names.add(name)
        self.nodes.append(helper.make_node(op, list(inputs), [name], name=name, **attributes))
        return name

    def value_info(self, name: str, shape: Dims, element: int | None = None) -> onnx.ValueInfoProto:
        """A graph input's or output's type: of the file's dtype unless `element` says another."""
        return helper.make_tensor_value_info(name, _ELEMENT[self.dtype] if element is None else element,
                                             ["batch" if d is None else d for d in shape])


def _channels_first(graph: _OnnxGraph, call: Call, op: str, weights: Sequence[str], **attributes: Any) -> None:
    """`op` (Conv, a pool) on the call's channels-last images: transposed to (batch, C, H, W) and back."""
    x = graph.node("Transpose", [call.inputs[0]], f"{call.output}/nchw", perm=[0, 3, 1, 2])
    y = graph.node(op, [x, *weights], f"{call.output}/{op}", **attributes)
    graph.node("Transpose", [y], call.output, perm=[0, 2, 3, 1])


def _pads(layer: Module, call: Call, window: tuple[int, int], strides: tuple[int, int], padding: images.Padding
          ) -> list[int]:
    """ONNX's pads, [top, left, bottom, right], of Keras' "valid" or "same" for the call's image size."""
    shape = tuple(int(d or 1) for d in call.input_shapes[0])
    _, ((top, bottom), (left, right)) = images.window_geometry(layer, shape, window, strides, padding, "window")
    return [top, left, bottom, right]


def _dense(graph: _OnnxGraph, layer: Dense, call: Call) -> None:
    W, b = graph.weight(f"{call.name}.W", layer.W.value), graph.weight(f"{call.name}.b", layer.b.value)
    graph.node("Gemm", [call.inputs[0], W, b], call.output)  # x W + b


def _conv(graph: _OnnxGraph, layer: Conv2D, call: Call) -> None:
    W = graph.weight(f"{call.name}.W", layer.W.value.transpose(3, 2, 0, 1))  # (filters, C_in, kh, kw), ONNX's
    _channels_first(graph, call, "Conv", [W, graph.weight(f"{call.name}.b", layer.b.value)],
                    kernel_shape=list(layer.kernel_size), strides=list(layer.strides),
                    pads=_pads(layer, call, layer.kernel_size, layer.strides, layer.padding))


def _max_pool(graph: _OnnxGraph, layer: MaxPool2D, call: Call) -> None:
    _channels_first(graph, call, "MaxPool", [], kernel_shape=list(layer.pool_size), strides=list(layer.strides),
                    pads=_pads(layer, call, layer.pool_size, layer.strides, layer.padding))  # padding never wins


def _avg_pool(graph: _OnnxGraph, layer: AvgPool2D, call: Call) -> None:
    _channels_first(graph, call, "AveragePool", [], kernel_shape=list(layer.pool_size), strides=list(layer.strides),
                    pads=_pads(layer, call, layer.pool_size, layer.strides, layer.padding),
                    count_include_pad=0)  # the mean of the entries inside the image, as Keras


def _global_pool(op: str) -> Callable[[_OnnxGraph, Module, Call], None]:
    def translate(graph: _OnnxGraph, layer: Module, call: Call) -> None:
        graph.node(op, [call.inputs[0], graph.ints("axes.H.W", [1, 2])], call.output, keepdims=0)

    return translate


def _batch_norm(graph: _OnnxGraph, layer: BatchNorm, call: Call) -> None:
    scale = layer.gamma.value / np.sqrt(layer.running_var.value + layer.eps)  # gamma (x - mean) / sqrt(var + eps) + beta
    shift = layer.beta.value - layer.running_mean.value * scale
    y = graph.node("Mul", [call.inputs[0], graph.weight(f"{call.name}.scale", scale)], f"{call.output}/scaled")
    graph.node("Add", [y, graph.weight(f"{call.name}.shift", shift)], call.output)


def _normalization(graph: _OnnxGraph, layer: Normalization, call: Call) -> None:
    rank = len(call.input_shapes[0])
    trailing = rank - 1 - layer.axis % rank  # statistics of (features, 1, ..., 1) broadcast along the axis
    along = (-1, *(1,) * trailing) if layer.mean.value.ndim else ()
    inv_std = 1 / np.sqrt(np.maximum(layer.variance.value, layer.EPS))
    y = graph.node("Sub", [call.inputs[0], graph.weight(f"{call.name}.mean", layer.mean.value.reshape(along))],
                   f"{call.output}/centred")
    graph.node("Mul", [y, graph.weight(f"{call.name}.inv_std", inv_std.reshape(along))], call.output)


def _layer_norm(graph: _OnnxGraph, layer: LayerNorm, call: Call) -> None:
    """LayerNormalization over the trailing axes; axes elsewhere are moved last (in order) by a
    Transpose, normalised there and moved back. Its scale is required: ones without `scale`."""
    rank = len(call.input_shapes[0])
    axes = sorted(a % rank for a in ([layer.axis] if isinstance(layer.axis, int) else layer.axis))
    sizes = [int(call.input_shapes[0][a] or 1) for a in axes]
    gamma = np.ones(sizes) if layer.gamma is None else layer.gamma.value
    weights = [graph.weight(f"{call.name}.gamma", gamma)]
    if layer.beta is not None:
        weights.append(graph.weight(f"{call.name}.beta", layer.beta.value))
    perm = [d for d in range(rank) if d not in axes] + axes
    trailing = perm == list(range(rank))
    x = call.inputs[0] if trailing else graph.node("Transpose", [call.inputs[0]], f"{call.output}/moved", perm=perm)
    y = graph.node("LayerNormalization", [x, *weights], call.output if trailing else f"{call.output}/normalised",
                   axis=-len(axes), epsilon=layer.epsilon)
    if not trailing:
        graph.node("Transpose", [y], call.output, perm=[perm.index(d) for d in range(rank)])


def _swish(graph: _OnnxGraph, layer: Swish, call: Call) -> None:
    s = graph.node("Sigmoid", [call.inputs[0]], f"{call.output}/sigmoid")
    graph.node("Mul", [call.inputs[0], s], call.output)  # x · sigmoid(x)


def _embedding(graph: _OnnxGraph, layer: Embedding, call: Call) -> None:
    graph.node("Gather", [graph.weight(f"{call.name}.W", layer.W.value), call.inputs[0]], call.output, axis=0)  # W[x]


def _reshape(graph: _OnnxGraph, layer: Reshape, call: Call) -> None:
    shape = graph.ints(f"{call.name}.shape", [0, *layer.target_shape])  # 0: the batch, copied from the input
    graph.node("Reshape", [call.inputs[0], shape], call.output)


def _multiply(graph: _OnnxGraph, layer: Multiply, call: Call) -> None:
    y = call.inputs[0]
    for i, x in enumerate(call.inputs[1:], start=2):
        y = graph.node("Mul", [y, x], call.output if i == len(call.inputs) else f"{call.output}/product")


def _op(op: str, **attributes: Callable[[Any], Any]) -> Callable[[_OnnxGraph, Module, Call], None]:
    """A translation to one `op` node of the call's inputs, its attributes read off the layer."""
    def translate(graph: _OnnxGraph, layer: Module, call: Call) -> None:
        graph.node(op, call.inputs, call.output, **{key: read(layer) for key, read in attributes.items()})

    return translate


_TRANSLATIONS: Mapping[type[Module], Callable[[_OnnxGraph, Any, Call], None]] = {
    Dense: _dense,
    Conv2D: _conv,
    MaxPool2D: _max_pool,
    AvgPool2D: _avg_pool,
    GlobalAvgPool2D: _global_pool("ReduceMean"),
    GlobalMaxPool2D: _global_pool("ReduceMax"),
    BatchNorm: _batch_norm,
    Normalization: _normalization,
    LayerNorm: _layer_norm,
    Embedding: _embedding,
    Dropout: _op("Identity"),
    Identity: _op("Identity"),
    ReLU: _op("Relu"),
    Sigmoid: _op("Sigmoid"),
    Tanh: _op("Tanh"),
    LeakyReLU: _op("LeakyRelu", alpha=lambda layer: layer.alpha),
    ELU: _op("Elu", alpha=lambda layer: layer.alpha),
    GELU: _op("Gelu", approximate=lambda layer: layer.approximate),  # "none": the erf form, as GELU's
    Swish: _swish,
    SiLU: _swish,
    Softplus: _op("Softplus"),
    Softmax: _op("Softmax", axis=lambda layer: layer.axis),
    Flatten: _op("Flatten", axis=lambda layer: 1),
    Reshape: _reshape,
    Add: _op("Sum"),
    Multiply: _multiply,
    Concatenate: _op("Concat", axis=lambda layer: layer.axis),
}
"""How each built-in layer becomes ONNX nodes: a call's nodes end in a node giving `call.output`."""
