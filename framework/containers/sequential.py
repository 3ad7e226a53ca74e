"""`Sequential`: a chain of layers, forward in order and backward in reverse."""

from collections.abc import Callable, Iterable
from typing import cast

import numpy as np

from framework.core.arrays import Array, Inputs, Shape
from framework.core.complex_parts import SharedReal, Stack, joined
from framework.core.errors import ConfigError, FormatError, FrameworkError, ShapeError
from framework.core.validation import a_kind, sample_shape_hint
from framework.core.guard import guarded
from framework.core.node import Input, Node
from framework.core.layer import JSON, Config, Layer, Module, is_builtin
from framework.core.protocols import LayerCall, model_backward
from framework.core.registry import build_layer, register_model, spec
from framework.containers.nested import Nested, held_by
from framework.containers.base import Container
from framework.containers.chain import Chain


@register_model
class Sequential(Container):
    """A stack of layers. Parameters are named by position: `"0.W"` is the `W` of layer 0.

    >>> from framework import Dense, ReLU, Sigmoid
    >>> model = Sequential([Dense(64, 4, seed=0), ReLU(), Dense(4, 3, seed=1), ReLU(), Dense(3, 1, seed=2), Sigmoid()])
    >>> [p.name for p in model.parameters()]
    ['0.W', '0.b', '2.W', '2.b', '4.W', '4.b']
    """

    def __init__(self, layers: Iterable[Layer | Container | Node]) -> None:
        if not isinstance(layers, Iterable):
            raise ConfigError(f"Sequential takes a list of layers, got {a_kind(layers)}: Sequential([layer, ...])")
        items = list(layers)
        self.input_shape: tuple[int | None, ...] | None = None
        """(None, features), when the first item is an `Input` or a layer that knows its input size;
        else, once known, the shape the model was first built (`fit`, the checker) or run with."""
        declared = items[0] if items else None
        if isinstance(declared, Node):
            items.pop(0)
            if declared.module is not None:
                raise ConfigError("Sequential: only an Input(...) node may stand first, to declare the input shape")
            self.input_shape = declared.shape
        if not items:
            raise ShapeError("Sequential needs at least one layer")
        self.layers: list[Layer] = []
        for i, item in enumerate(items):
            if isinstance(item, Container):
                self.layers.append(Nested(item))
            elif isinstance(item, Layer):
                self.layers.append(item)
            elif isinstance(item, type):
                raise ConfigError(f"Sequential: item {i} is the class {item.__name__}, not a layer: pass an instance, "
                                  f"{item.__name__}(...)")
            else:
                raise ConfigError(
                    f"Sequential: item {i} is a {type(item).__name__}, not a Layer (a Merge layer needs a graph Model)"
                )
        seen: dict[int, int] = {}
        for i, layer in enumerate(self.layers):
            for held in held_by(layer):  # the layer, or a nested model and every layer inside it
                first = seen.setdefault(id(held), i)
                if first != i and not isinstance(held, Nested):
                    itself = held is items[i] or held is layer
                    there = held is items[first] or held is self.layers[first]
                    raise ConfigError(
                        f"Sequential: item {i} {'is' if itself else 'holds'} the same {held!r} object "
                        f"as {'item' if there else 'a layer of item'} {first}; each layer keeps "
                        "the cache of its own forward, so it can stand once: make a new layer, or share weights in a "
                        "graph Model"
                    )
        first_in = getattr(self.layers[0], "in_features", None)
        if self.input_shape is None and isinstance(first_in, int):
            self.input_shape = (None, first_in)
        self._chain: Chain | None = None
        self._declared = self.input_shape is not None
        """The input shape came from the user (an Input, a first layer's size, a saved model): data of
        another shape are refused at once, naming it and the fix."""
        if self.input_shape is not None:
            self.output_shapes(self.input_shape)  # builds waiting layers, rejects layers that do not fit together
        self._name_parameters()

    def get_config(self) -> Config:
        """The architecture as JSON-ready data: each layer's class name and constructor arguments."""
        layers: list[JSON] = [spec(layer) for layer in self.layers]
        if self.input_shape is None:
            return {"layers": layers}
        return {"input_shape": [int(d) for d in self.input_shape[1:] if d is not None], "layers": layers}

    @classmethod
    def from_config(cls, config: Config) -> "Sequential":
        """Rebuild (with fresh weights) the architecture that `get_config` described."""
        layers, shape = config.get("layers"), config.get("input_shape")
        if not isinstance(layers, list):
            raise FormatError(f"Sequential config needs a list of layers, got {type(layers).__name__}")
        if shape is not None and not isinstance(shape, list):
            raise FormatError(f"Sequential config: input_shape must be a list of feature sizes, got {shape!r}")
        built: list[Layer | Node] = [] if shape is None else [Input(cast(list[int], shape))]  # Input checks the sizes
        for i, item in enumerate(layers):
            layer = build_layer(item, f"layer {i}")
            if not isinstance(layer, Layer):
                raise FormatError(f"layer {i} {type(layer).__name__} takes several inputs; it needs a graph Model")
            built.append(layer)
        return cls(built)

    @guarded
    def forward(self, x: Inputs) -> Array:
        h = self.forward_unscanned(x)
        self.refuse_nonfinite(x, (h,))
        return h

    @guarded
    def forward_unscanned(self, x: Inputs) -> Array:
        """`forward` without the scan of its output for NaN and inf, for a caller that scans the output
        itself and calls `refuse_nonfinite` when it finds one: `fit`, whose loss is the framework's
        (`framework.training.objective`)."""
        if not isinstance(x, np.ndarray):
            raise ShapeError(f"Sequential takes one input array, got {a_kind(x)}: use a graph Model for several")
        h = self._run().forward(x)
        if self.input_shape is None:  # the first forward that ran through: summary() shows its shapes
            self.input_shape = (None, *x.shape[1:])
        return h

    @model_backward
    @guarded
    def backward(self, grad: Array, *, input_grad: bool = False) -> Array | None:
        """Back-propagate dL/d(output), setting every parameter's grad.

        Returns dL/dx only when `input_grad=True`: on a wide input it costs as much as the first
        layer's weight gradient, and training never needs it."""
        return self._run().backward(grad, input_grad)

    @guarded
    def backward_before(self, stop: int, grad: Array) -> None:
        """Back-propagate dL/d(the input of layer `stop`), setting every parameter's grad, when the caller
        took the backward of the layers from `stop` on: `fit` takes a closing `Sigmoid`'s and its
        `BCELoss`'s as one (`framework.training.objective`)."""
        self._run().backward(grad, False, stop)

    def _run(self) -> Chain:
        """How the layers run: checked by their guards until an input has passed them (`Chain`); made
        again when `self.layers` was changed."""
        chain = self._chain
        if chain is None or not chain.holds(self.layers):
            chain = self._chain = Chain(self.layers)
        return chain

    def workspace_layers(self) -> list[Layer]:
        """Each layer but the last (whose output is the caller's), each held once, when every layer is one
        of the framework's own: the model alone then reads what they return in a training step, until
        the next one. None when a layer is yours (it may keep what it is given, its inputs over the
        steps, say), nor the layers of a model inside it."""
        if not all(is_builtin(layer) for layer in self.layers):
            return []
        return [layer for layer in self.layers[:-1] if isinstance(layer, Layer) and not isinstance(layer, Nested)]

    def named_layers(self) -> list[tuple[str, Module]]:
        """Each layer, named by its position."""
        return [(str(i), layer) for i, layer in enumerate(self.layers)]

    def output_shape(self, input_shape: Shape) -> Shape:
        return tuple(int(d or 1) for d in self.output_shapes((None, *input_shape[1:]))[-1])

    def resume(self, start: int, h: Array) -> Array:
        """The model's output when layer `start - 1` gave `h`: the gradient checker, moving a
        parameter of one layer, reruns only the layers after it."""
        for layer in self.layers[start:]:
            h = layer.forward(h)
        return h

    def resume_stack(self, start: int, hs: Stack) -> Array:
        """`resume` for a stack of K outputs of layer `start - 1` (a leading probe axis): the model's
        K outputs, stacked the same way (`Layer.forward_stack`); by parts (`Layer.forward_shared`) from
        the layer on which every one after it has its own, and where the stack came by parts."""
        layers, h = self.layers[start:], hs
        first = len(layers)
        while first and isinstance(layers[first - 1], Layer) and layers[first - 1].runs_by_parts:
            first -= 1
        for i, layer in enumerate(layers):
            if i == first and not isinstance(h, SharedReal):
                h = SharedReal.split(h) or h
            out = layer.forward_shared(h) if isinstance(h, SharedReal) and isinstance(layer, Layer) else None
            h = out if out is not None else layer.forward_stack(joined(h))
        return joined(h)

    def trace(self, x: Inputs) -> list[LayerCall]:
        """Run forward, recording each layer's input (the gradient checker checks each layer on it)."""
        if not isinstance(x, np.ndarray):
            raise ShapeError(f"Sequential takes one input array, got {a_kind(x)}")
        calls, h = [], x
        for i, layer in enumerate(self.layers):
            calls.append(LayerCall(str(i), layer, h))
            h = layer.forward(h)
        return calls

    def build(self, xs: tuple[Array, ...]) -> None:
        """Build the layers that wait for their input shape, and remember it if it was not known: the
        first layer is then built on the data itself (`Conv2D` refuses channels-first images)."""
        if self.input_shape is None:
            self.layers[0].check_input(xs[0])
        declared = self.input_shape[1:] if self._declared and self.input_shape is not None else None
        if declared is not None and None not in declared and xs[0].shape[1:] != declared:
            expected = cast(tuple[int, ...], declared)
            raise ShapeError(f"Sequential: x has shape {xs[0].shape}, but the model takes (batch, "
                             f"{', '.join(map(str, expected))}), the input shape it was declared with"
                             f"{sample_shape_hint(xs[0].shape, expected)}")
        shape = (None, *xs[0].shape[1:])
        self.output_shapes(shape)
        if self.input_shape is None:
            self.input_shape = shape
        self._name_parameters()

    def output_shapes(self, input_shape: tuple[int | None, ...]) -> list[tuple[int | None, ...]]:
        """The output shape of each layer for an input of `input_shape` (None for the batch)."""
        shapes: list[tuple[int | None, ...]] = []
        shape = input_shape
        for i, layer in enumerate(self.layers):
            try:
                concrete: Shape = tuple(1 if d is None else d for d in shape)
                layer.build(concrete)
                out = layer.output_shape(concrete)
            except FrameworkError as e:
                before = f"layer {i - 1} {self.layers[i - 1]!r}" if i else "the input"
                raise ShapeError(f"Sequential: layer {i} {layer!r} does not fit after {before}: {e}") from e
            shape = (input_shape[0], *out[1:])
            shapes.append(shape)
        return shapes

    def summary(self, print_fn: Callable[[str], object] = print, *, input_shape: tuple[int | None, ...] | None = None) -> None:
        """Print a Keras-style table: layer, output shape, parameter count, totals."""
        self._print_summary(self._summary_rows(input_shape), print_fn)

    def _summary_rows(self, input_shape: tuple[int | None, ...] | None = None) -> list[tuple[str, ...]]:
        if input_shape is None:
            input_shape = self.input_shape
        shapes = self.output_shapes(input_shape) if input_shape is not None else [None] * len(self.layers)
        rows: list[tuple[str, ...]] = [("Layer (type)", "Output Shape", "Param #")]
        for i, (layer, shape) in enumerate(zip(self.layers, shapes)):
            count = sum(p.size for p in layer.parameters())
            rows.append((f"{i} {layer!r}", "?" if shape is None else str(shape), f"{count:,}"))
        return rows

    def __repr__(self) -> str:
        return f"Sequential([{', '.join(repr(layer) for layer in self.layers)}])"
