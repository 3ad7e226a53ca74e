"""The walk that every export shares: a model (a `Sequential`, a graph `Model`, models nested in
them) flattened into the layer calls it makes, in the order it makes them, each naming the values
it takes and gives, with their shapes; and the refusal, by name, of the layers an exporter cannot
translate, before it writes anything."""

from collections.abc import Collection, Sequence
from typing import Protocol, runtime_checkable

import attrs

from framework.core.arrays import Shape
from framework.core.errors import ConfigError, ShapeError
from framework.core.layer import Module
from framework.core.node import Node
from framework.core.protocols import Network, Wrapper

Dims = tuple[int | None, ...]
"""A value's shape, None for the batch."""


@runtime_checkable
class _Graph(Protocol):
    """What a graph `Model` shows of its wiring: its input and output nodes, every node parents first."""

    inputs: list[Node]
    outputs: list[Node]
    nodes: list[Node]

    def named_layers(self) -> list[tuple[str, Module]]: ...


@runtime_checkable
class _Chain(Protocol):
    """What a `Sequential` shows: its layers, in order, and its input shape once known."""

    input_shape: Dims | None

    def named_layers(self) -> list[tuple[str, Module]]: ...


@attrs.frozen
class Call:
    """One call of a layer: `name` is the layer's in the model, as its parameters are named
    (`"0"`, `"dense_1"`, `"2.conv2_d"` inside a nested model); a shared layer makes several calls of
    one name. `inputs` and `output` name values, of the shapes `input_shapes` and `output_shape`."""

    layer: Module
    name: str
    inputs: tuple[str, ...]
    output: str
    input_shapes: tuple[Dims, ...]
    output_shape: Dims


@attrs.frozen
class Program:
    """A model's forward as straight-line code: named input values (with their shapes), the calls,
    and the values it returns."""

    inputs: tuple[tuple[str, Dims], ...]
    calls: tuple[Call, ...]
    outputs: tuple[str, ...]

    def layers(self) -> list[tuple[str, Module]]:
        """Each layer once, with its name: a shared layer's weights are copied once."""
        seen: dict[int, tuple[str, Module]] = {}
        for call in self.calls:
            seen.setdefault(id(call.layer), (call.name, call.layer))
        return list(seen.values())


def program(model: Network) -> Program:
    """`model` flattened into its calls, nested models inlined; a ShapeError if its input shape is
    not known yet (a `Sequential` without an `Input` that has never run)."""
    if isinstance(model, _Graph):
        shapes = [node.shape for node in model.inputs]
        names = _unique([node.name for node in model.inputs])
    elif isinstance(model, _Chain):
        if model.input_shape is None:
            raise ShapeError(f"{model!r}: export needs the model's input shape: declare it, Sequential([Input(shape), "
                             "...]), or run the model once (fit, predict)")
        shapes, names = [model.input_shape], ["input"]
    else:
        raise ConfigError(f"export takes a Sequential or a graph Model, got {type(model).__name__}")
    values: dict[str, Dims] = dict(zip(names, shapes))
    calls: list[Call] = []
    outputs = _inline(model, "", names, values, calls)
    return Program(tuple(zip(names, shapes)), tuple(calls), tuple(outputs))


def refuse_unknown(prog: Program, known: Collection[type[Module]], what: str) -> None:
    """A ConfigError naming every layer of `prog` whose class is not in `known` (a subclass of a
    built-in layer included: its forward may be another), so that nothing is written for a model that
    cannot be exported whole."""
    unknown = [f"{name} ({type(layer).__name__})" for name, layer in prog.layers() if type(layer) not in known]
    if unknown:
        raise ConfigError(f"{what} cannot translate {', '.join(unknown)}: only the built-in layers are exported "
                          f"({', '.join(sorted(k.__name__ for k in known))}); nothing was written")


def _inline(model: object, prefix: str, feeds: Sequence[str], values: dict[str, Dims], calls: list[Call]) -> list[str]:
    """Append the calls of `model`, fed the values `feeds`, to `calls`; return its output values."""
    if isinstance(model, _Graph):
        if len(feeds) != len(model.inputs):
            raise ShapeError(f"{model!r} takes {len(model.inputs)} inputs, got {len(feeds)}")
        named = {id(module): name for name, module in model.named_layers()}
        at: dict[Node, str] = dict(zip(model.inputs, feeds))
        for node in model.nodes:
            if node.module is not None:
                at[node] = _call(node.module, prefix + named[id(node.module)], [at[p] for p in node.parents],
                                 values, calls)
        return [at[node] for node in model.outputs]
    assert isinstance(model, _Chain)
    (h,) = feeds
    for name, layer in model.named_layers():
        h = _call(layer, prefix + name, [h], values, calls)
    return [h]


def _call(layer: Module, name: str, feeds: list[str], values: dict[str, Dims], calls: list[Call]) -> str:
    """Append the call of `layer` on `feeds` (inlining a nested model's calls); return its output value."""
    if isinstance(layer, Wrapper):
        (out,) = _inline(layer.wrapped_model(), name + ".", feeds, values, calls)  # a nested model has one output
        return out
    input_shapes = tuple(values[v] for v in feeds)
    concrete: list[Shape] = [(1, *(int(d or 1) for d in shape[1:])) for shape in input_shapes]
    output = _unique([name], taken=values)[0]
    values[output] = (None, *layer.node_shape(concrete)[1:])
    calls.append(Call(layer, name, tuple(feeds), output, input_shapes, values[output]))
    return output


def _unique(names: Sequence[str], taken: Collection[str] = ()) -> list[str]:
    """`names`, each made unique among the others and `taken` by a suffix: "input", "input_1"."""
    used, out = set(taken), []
    for name in names:
        candidate, i = name, 0
        while candidate in used:
            i += 1
            candidate = f"{name}_{i}"
        used.add(candidate)
        out.append(candidate)
    return out
