"""`Model`: a graph of layers, built by calling layers on symbolic nodes (Keras' functional API)."""

import re
from collections.abc import Callable, Sequence
from typing import cast

import numpy as np

from framework.core.arrays import Array, Shape
from framework.core.complex_parts import Stack, joined
from framework.core.errors import REBUILD_ERRORS, ConfigError, FormatError, ShapeError
from framework.core.validation import brief, located
from framework.core.guard import guarded
from framework.core.node import Input, Node, call
from framework.core.layer import JSON, Config, Layer, Merge, Module
from framework.core.protocols import LayerCall, model_backward
from framework.core.registry import build_layer, register_model, spec
from framework.containers.base import Container
from framework.containers.nested import held_by
from framework.training.joined import Joined


def _snake(name: str) -> str:
    """ReLU -> re_lu, BatchNorm -> batch_norm, as Keras names layers."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


@register_model
class Model(Container):
    """A model from `inputs` to `outputs`, through the layers called on the way.

    Runs forward in topological order and backward in reverse, summing the gradient where a node
    feeds several layers and where one layer (shared weights) is called twice. Parameters are named
    by layer: `"dense_1.W"`.

    >>> from framework import Add, Dense, Input, ReLU, Sigmoid
    >>> x = Input(4)
    >>> h = Add()([x, Dense(4, 4, seed=0)(ReLU()(Dense(4, 4, seed=1)(x)))])
    >>> model = Model(inputs=x, outputs=Sigmoid()(Dense(4, 1, seed=2)(h)))
    >>> model.forward(np.ones((2, 4))).shape
    (2, 1)
    """

    def __init__(self, inputs: Node | Sequence[Node], outputs: Node | Sequence[Node]) -> None:
        self.inputs, self.outputs = _nodes("inputs", inputs), _nodes("outputs", outputs)
        if not self.inputs or not self.outputs:
            raise ShapeError("Model needs at least one input and one output node")
        self.nodes = _topological(self.outputs)
        for node in self.nodes:
            if node.module is None and node not in self.inputs:
                raise ShapeError(f"Model: the outputs depend on {node!r}, which is not among the inputs {self.inputs}")
        self.modules: dict[Module, str] = {}
        for node in self.nodes:
            if node.module is not None and node.module not in self.modules:
                base = _snake(type(node.module).__name__)
                taken = set(self.modules.values())
                self.modules[node.module] = next(
                    n for n in (base, *(f"{base}_{i}" for i in range(1, len(self.nodes) + 1))) if n not in taken
                )
        self.calls = [node for node in self.nodes if node.module is not None]
        uses: dict[Module, int] = {}
        for node in self.calls:
            assert node.module is not None
            uses[node.module] = uses.get(node.module, 0) + 1
        self._shared = {module for module, n in uses.items() if n > 1}
        self._snapshots: dict[Node, list[tuple[object, dict[str, object]]]] = {}
        self._traced: dict[Node, Array] = {}
        self._resumed: dict[Node, Array] = {}
        self._downstream: dict[int, list[Node]] = {}
        self._name_parameters()

    # -- running ---------------------------------------------------------------------------------
    def forward(self, x: Array | Sequence[Array]) -> Array:
        """Run the graph; a model of several outputs returns them stacked in a list via `forward_all`."""
        outputs = self.forward_all(x)
        if len(outputs) != 1:
            raise ShapeError(f"Model has {len(outputs)} outputs: use forward_all(x)")
        return outputs[0]

    @guarded
    def forward_all(self, x: Array | Sequence[Array]) -> list[Array]:
        xs = self._as_inputs(x)
        values: dict[Node, Array] = dict(zip(self.inputs, xs))
        for node in self.calls:
            values[node] = self._run(node, values)
            if node.module in self._shared:  # keep this call's cache: the next call of the module replaces it
                self._snapshots[node] = [(m, dict(vars(m))) for m in held_by(node.module)]
        self._values = values
        outputs = [values[node] for node in self.outputs]
        self.refuse_nonfinite(xs, outputs)
        return outputs

    def resume(self, start: int, h: Array) -> Array:
        """The model's output when call `start - 1` of the last `trace` gave `h`: only the calls it
        feeds run again, the others keep their traced values (the gradient checker, moving a
        parameter of one layer, reruns only what it changes)."""
        return self._resumed_from(start, h, self._run)

    def resume_stack(self, start: int, hs: Stack) -> Array:
        """`resume` for a stack of K outputs of call `start - 1` (a leading probe axis): the model's K
        outputs, stacked the same way; a traced value that a rerun call merges with is the same for
        every probe."""
        fed = set(self._fed_by(start - 1))

        def run(node: Node, values: dict[Node, Array]) -> Array:
            module = node.module
            if isinstance(module, Merge):
                return module.forward_stack([values[p] if p in fed else np.broadcast_to(values[p], (len(hs), *values[p].shape))
                                             for p in node.parents])
            assert isinstance(module, Layer)
            return module.forward_stack(values[node.parents[0]])

        return self._resumed_from(start, joined(hs), run)

    def _resumed_from(self, start: int, h: Array, run: Callable[[Node, dict[Node, Array]], Array]) -> Array:
        fed, values = self._fed_by(start - 1), self._resumed
        values[fed[0]] = h
        try:
            for node in fed[1:]:
                values[node] = run(node, values)
            return values[self.outputs[0]]
        finally:  # back to the traced values, for the next call
            for node in fed:
                values[node] = self._traced[node]

    def _run(self, node: Node, values: dict[Node, Array]) -> Array:
        """The output of call `node` on the values of its parents."""
        module = node.module
        if isinstance(module, Merge):
            return module.forward([values[p] for p in node.parents])
        assert isinstance(module, Layer)
        return module.forward(values[node.parents[0]])

    def _fed_by(self, k: int) -> list[Node]:
        """Call k and every call downstream of it, in the trace order."""
        if k not in self._downstream:
            if len(self.outputs) != 1 or not self._traced:
                raise ShapeError(f"{self!r}: resume reruns a model of one output from its last trace(x)")
            fed = [self.calls[k]]
            for node in self.calls[k + 1:]:
                if any(p in fed for p in node.parents):
                    fed.append(node)
            self._downstream[k] = fed
        return self._downstream[k]

    @model_backward
    def backward(self, grad: Array | Sequence[Array], *, input_grad: bool = False) -> Array | None:
        """Back-propagate dL/d(output) (a list for several outputs). With `input_grad`, returns
        dL/dx (for several inputs, use `backward_all`)."""
        grads = self.backward_all(grad, input_grad=input_grad)
        if grads is None:
            return None
        if len(grads) != 1:
            raise ShapeError(f"Model has {len(grads)} inputs: use backward_all(grad, input_grad=True)")
        return grads[0]

    @guarded
    def backward_all(self, grad: Array | Sequence[Array], *, input_grad: bool = False) -> list[Array] | None:
        seeds = [grad] if isinstance(grad, np.ndarray) else list(grad)
        if len(seeds) != len(self.outputs):
            raise ShapeError(f"Model has {len(self.outputs)} outputs but got {len(seeds)} gradients")
        grads: dict[Node, Array] = {}
        for node, g in zip(self.outputs, seeds):
            _accumulate(grads, node, g)
        totals: dict[int, Array] = {}  # summed grads of shared modules' parameters, by id
        for node in reversed(self.calls):
            module = node.module
            assert module is not None
            if node not in grads:
                continue
            g = grads.pop(node)
            if module in self._shared:
                for held, state in self._snapshots.pop(node):
                    vars(held).update(state)
            if isinstance(module, Merge):
                for parent, dx in zip(node.parents, module.backward(g)):
                    _accumulate(grads, parent, dx)
            else:
                assert isinstance(module, Layer)
                parent = node.parents[0]
                if parent.module is None and not input_grad:
                    module.backward_params(g)
                else:
                    _accumulate(grads, parent, module.backward(g))
            if module in self._shared:
                for p in module.parameters():
                    if id(p) in totals:
                        np.add(totals[id(p)], p.grad, out=totals[id(p)])
                    else:
                        totals[id(p)] = p.grad.copy()
        for module in self._shared:
            for p in module.parameters():
                if id(p) in totals:
                    np.copyto(p.grad, totals[id(p)])
        if not input_grad:
            return None
        return [grads.get(node, np.zeros_like(self._values[node])) for node in self.inputs]

    def build(self, xs: tuple[Array, ...]) -> None:
        """Nothing to do: a graph's layers were built when they were called on its nodes."""

    def output_shape(self, input_shape: Shape) -> Shape:
        if len(self.inputs) != 1 or len(self.outputs) != 1 or tuple(input_shape[1:]) != self.inputs[0].shape[1:]:
            raise ShapeError(f"{self!r} nested as a layer needs one input of shape {self.inputs[0].shape} and one "
                             f"output; got an input of shape {input_shape}")
        return (input_shape[0], *(int(d or 1) for d in self.outputs[0].shape[1:]))

    @property
    def named_outputs(self) -> dict[str, Shape | None]:
        """Each output by the name of the layer that gives it (`"dense_1"`, as Keras names outputs), with the
        shape of one of its samples."""
        return {self._node_name(node): tuple(int(d or 1) for d in node.shape[1:]) for node in self.outputs}

    def output_layers(self) -> list[Module | None]:
        return [node.module for node in self.outputs]  # None: an input that is also an output

    def joined(self) -> Joined | None:
        """For several outputs, the model seen as one output, its outputs side by side (`Joined`)."""
        return Joined(self) if len(self.outputs) > 1 else None

    # -- structure -------------------------------------------------------------------------------
    def named_layers(self) -> list[tuple[str, Module]]:
        """Each layer once (a shared one too), named as Keras names it: `"dense"`, `"dense_1"`."""
        return [(name, module) for module, name in self.modules.items()]

    @property
    def layers(self) -> list[Module]:  # type: ignore[override]
        return list(self.modules)

    def trace(self, x: Array | Sequence[Array]) -> list[LayerCall]:
        """Run forward, recording each call's inputs and output (kept for `resume`)."""
        self.forward_all(x)
        values = self._values
        self._traced, self._resumed = values, dict(values)
        calls = []
        for node in self.calls:
            assert node.module is not None
            inputs = tuple(values[p] for p in node.parents)
            calls.append(LayerCall(self._node_name(node), node.module,
                                   inputs if isinstance(node.module, Merge) else inputs[0], values[node]))
        return calls

    def _node_name(self, node: Node) -> str:
        if node.module is None:
            return node.name
        name = self.modules[node.module]
        calls = [n for n in self.calls if n.module is node.module]
        return name if len(calls) == 1 else f"{name}#{calls.index(node)}"

    def _as_inputs(self, x: Array | Sequence[Array]) -> list[Array]:
        xs = [x] if isinstance(x, np.ndarray) else list(x)
        if len(xs) != len(self.inputs):
            raise ShapeError(f"Model has {len(self.inputs)} inputs {self.inputs} but got {len(xs)} arrays")
        for node, a in zip(self.inputs, xs):
            if not isinstance(a, np.ndarray) or a.shape[1:] != node.shape[1:]:
                got = a.shape if isinstance(a, np.ndarray) else type(a).__name__
                raise ShapeError(f"Model input {node.name!r} expects shape {node.shape}, got {got}")
        return xs

    # -- saving ----------------------------------------------------------------------------------
    def get_config(self) -> Config:
        index = {node: i for i, node in enumerate(self.nodes)}
        modules = list(self.modules)
        return {
            "modules": [spec(m) for m in modules],
            "nodes": [
                {"input": list(node.shape[1:]), "name": node.name} if node.module is None
                else {"module": modules.index(node.module), "parents": [index[p] for p in node.parents]}
                for node in self.nodes
            ],
            "inputs": [index[n] for n in self.inputs],
            "outputs": [index[n] for n in self.outputs],
        }

    @classmethod
    def from_config(cls, config: Config) -> "Model":
        """Rebuild (with fresh weights) the graph that `get_config` described."""
        modules = [build_layer(item, f"module {i}") for i, item in enumerate(_list(config, "modules"))]
        nodes: list[Node] = []
        for i, item in enumerate(_list(config, "nodes")):
            try:
                nodes.append(_node(item, modules, nodes))
            except REBUILD_ERRORS as e:
                raise located(e, f"Model config: node {i}")
        inputs = [nodes[_index(j, len(nodes), "Model config: an input")] for j in _list(config, "inputs")]
        outputs = [nodes[_index(j, len(nodes), "Model config: an output")] for j in _list(config, "outputs")]
        return cls(inputs, outputs)

    def summary(self, print_fn: Callable[[str], object] = print) -> None:
        """Print each layer call with its output shape, parameter count and the nodes it takes."""
        self._print_summary(self._summary_rows(), print_fn)

    def _summary_rows(self) -> list[tuple[str, ...]]:
        rows: list[tuple[str, ...]] = [("Layer (type)", "Output Shape", "Param #", "Connected to")]
        counted: set[Module] = set()
        for node in self.nodes:
            if node.module is None:
                rows.append((f"{node.name} (Input)", str(node.shape), "0", ""))
                continue
            count = 0 if node.module in counted else sum(p.size for p in node.module.parameters())
            counted.add(node.module)
            rows.append((f"{self._node_name(node)} ({node.module!r})", str(node.shape), f"{count:,}",
                         ", ".join(self._node_name(p) for p in node.parents)))
        return rows

    def __repr__(self) -> str:
        return f"Model({len(self.inputs)} inputs -> {len(self.modules)} layers -> {len(self.outputs)} outputs)"


def _accumulate(grads: dict[Node, Array], node: Node, g: Array) -> None:
    if node in grads:
        grads[node] = grads[node] + g
    else:
        grads[node] = g


def _nodes(what: str, given: object) -> list[Node]:
    """`given` as a list of nodes: a node, or a list or tuple of them."""
    items = [given] if isinstance(given, Node) else list(given) if isinstance(given, list | tuple) else None
    if items is None or not all(isinstance(item, Node) for item in items):
        raise ConfigError(
            f"Model: {what} must be a node or a list of nodes, got {brief(given)}: nodes come from Input(...) and "
            "from calling a layer on a node, as outputs = Dense(1)(x)"
        )
    return items


def _topological(outputs: list[Node]) -> list[Node]:
    """Every node the outputs depend on, parents before children; a cycle is an error naming it."""
    order: list[Node] = []
    state: dict[Node, str] = {}
    for root in outputs:
        stack: list[tuple[Node, int]] = [(root, 0)]
        while stack:
            node, i = stack.pop()
            if i == 0:
                if state.get(node) == "done":
                    continue
                if state.get(node) == "open":
                    continue
                state[node] = "open"
            if i < len(node.parents):
                stack.append((node, i + 1))
                parent = node.parents[i]
                if state.get(parent) == "open":
                    cycle = [n for n, _ in stack] + [parent]
                    raise ShapeError("Model: the graph has a cycle: " + " -> ".join(repr(n) for n in cycle))
                if state.get(parent) != "done":
                    stack.append((parent, 0))
            else:
                state[node] = "done"
                order.append(node)
    return order


def _node(item: object, modules: list[Module], nodes: list[Node]) -> Node:
    """The node that a saved node describes: an `Input`, or a module called on earlier `nodes`."""
    if not isinstance(item, dict):
        raise FormatError(f"must be an object, got {brief(item)}")
    if "input" in item:
        name = item.get("name", "input")
        if not isinstance(name, str):
            raise FormatError(f"name must be a string, got {brief(name)}")
        return Input(cast(list[int], item["input"]), name=name)  # Input checks the sizes
    module, parents = modules[_index(item.get("module"), len(modules), "module")], item.get("parents")
    if not isinstance(parents, list):
        raise FormatError(f"parents must be a list of node indices, got {brief(parents)}")
    return call(module, [nodes[_index(p, len(nodes), "a parent")] for p in parents])


def _list(config: Config, key: str) -> list[JSON]:
    value = config.get(key)
    if not isinstance(value, list):
        raise FormatError(f"Model config: {key} must be a list, got {brief(value)}")
    return value


def _index(value: object, n: int, what: str) -> int:
    """`value` as an index into a list of `n` (a parent must come before the node that takes it)."""
    if not (isinstance(value, int) and not isinstance(value, bool) and 0 <= value < n):
        raise FormatError(f"{what} must be an integer in [0, {n}), got {brief(value)}")
    return value
