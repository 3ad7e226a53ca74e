"""`Layer` (one input) and `Merge` (several inputs): the base classes of every layer. A layer owns
its parameters, its forward, its backward and the cache that passes from one to the other."""

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol, TypeAlias, TypeVar, cast

import numpy as np
import numpy.typing as npt

from framework.core.arrays import Array, Indices, Mask, Shape
from framework.core.complex_parts import SharedReal, Stack
from framework.core.errors import ConfigError, DTypeError, GradientDTypeError, GradientShapeError, ShapeError
from framework.core.guard import Checked
from framework.core.node import Node, call
from framework.core.parameter import Buffer, Parameter, Replacements
from framework.core.validation import a_kind

T = TypeVar("T")
JSON: TypeAlias = "int | float | str | bool | None | list[JSON] | dict[str, JSON]"
Config: TypeAlias = dict[str, JSON]
"""JSON-ready constructor arguments, as `get_config` returns them."""


class Module(Checked):
    """What every layer has, one input or several: parameters (and buffers) found among its
    attributes, a config that rebuilds it, a training flag, and the checks the guard runs at its edge.

    A subclass's `forward`, `backward` and `backward_params` are wrapped by `framework.core.guard`
    (`Checked`): the input is checked before forward (`check_input`, once per input shape), the call
    order and the gradient before backward (`check_grad`), and a floating-point error inside raises
    a NonFiniteError naming the layer. So a layer's forward and backward hold only its math."""

    training: bool = True
    """True while `fit` trains (Dropout drops, BatchNorm uses batch statistics), False otherwise."""
    _trainable: bool = True
    min_training_batch: int = 1
    """The fewest samples a forward in training takes (BatchNorm: 2, to estimate a variance); `fit`
    merges a smaller last batch into the one before it."""
    takes_indices: bool = False
    """True for a layer whose input is integer indices (`Embedding`): `fit`, `evaluate` and `predict`
    then hand a model holding it its integer data as they are, instead of casting them to floats."""
    replay: bool = False
    """Set by the gradient checker: a random layer (Dropout) reuses its last draw instead of a new one."""
    checked_methods = ("forward", "backward", "backward_params")
    grad_is_scratch: bool = False
    """True only while `Sequential.backward` runs this layer's backward on a gradient that is the
    framework's own: an array of its own (not a view) that the layer above returned, which nothing
    reads after this backward (never the caller's array): the layer may then write dL/dx into it, as
    ReLU does, instead of into a fresh array. So a backward returns a new array, or a view of its `grad`."""
    independent_samples: bool = False
    """Each output sample depends only on the same sample of its input(s) (and the parameters), as in
    every built-in layer but BatchNorm in training: the gradient checker then runs a stack of K probes
    as one batch of K·batch samples (`forward_stack`), and a probe of one input entry as that one
    sample. A custom layer for which it holds may set it to True."""
    _accepted: object = None
    """What the last input accepted by `check_input` was like (shapes, dtypes, `Replacements.count`)."""

    @property
    def trainable(self) -> bool:
        """False freezes the layer, as in Keras: `fit` does not update its parameters (nor those of its
        sub-layers), and BatchNorm runs on its running statistics; backward still computes the
        gradients, and the gradient checker still checks them."""
        return self._trainable

    @trainable.setter
    def trainable(self, trainable: bool) -> None:
        if not isinstance(trainable, bool | np.bool_):
            raise ConfigError(f"{self!r}: trainable must be True or False, got {trainable!r}")
        self._trainable = bool(trainable)

    @property
    def stacks_probes(self) -> bool:
        """Whether `forward_stack` runs a stack of the gradient checker's probes at once, rather than
        one at a time (its report says which)."""
        return self.independent_samples

    @classmethod
    def example(cls, rng: np.random.Generator) -> "tuple[Module, list[Array]]":
        """An instance and inputs to check it on: the test of every registered layer uses this, so a
        layer whose constructor needs arguments overrides it."""
        return cls(), [rng.standard_normal((4, 5))]

    def branch(self) -> Mask | None:
        """The discrete choices of the last forward (ReLU's mask), so that the gradient checker can
        see a finite-difference step cross a kink. None for a smooth layer."""
        return None

    def get_config(self) -> Config:
        """The keyword arguments that rebuild this layer (its weights aside); override when the
        constructor takes any, so that `save` and `load_model` can rebuild it."""
        return {}

    def named_parameters(self, *, trainable: bool | None = None) -> list[tuple[str, Parameter]]:
        """Every `Parameter` among the attributes, found through sub-layers (and models), lists,
        tuples and dicts, each once even when it is held twice, named by path: `"W"`, `"d1.W"`,
        `"blocks.0.b"`, `"weights.W1"`. `trainable=True` keeps the parameters `fit` updates (those of
        no frozen layer on their path), `False` the frozen ones."""
        return _collect(self, Parameter, trainable)

    def parameters(self, *, trainable: bool | None = None) -> list[Parameter]:
        return [p for _, p in self.named_parameters(trainable=trainable)]

    def named_buffers(self) -> list[tuple[str, Buffer]]:
        """Every `Buffer`, found and named as `named_parameters` finds parameters."""
        return _collect(self, Buffer, None)

    def named_modules(self) -> "list[tuple[str, Module]]":
        """The layers this one holds (not itself), found and named as `named_parameters` finds parameters."""
        return _collect(self, Module, None)

    def check_float(self, x: Array) -> None:
        """O(1): a float (or, under the complex-step check, complex) array with a non-empty batch, or a clear error."""
        if not isinstance(x, np.ndarray) or x.dtype.kind not in "fc":
            got = x.dtype if isinstance(x, np.ndarray) else type(x).__name__
            raise DTypeError(f"{self!r} expected a float input, got {got}: convert it with x.astype(np.float64)")
        if x.ndim == 0 or x.size == 0:
            raise ShapeError(f"{self!r} expected a non-empty batch (the first axis is the batch), got shape {x.shape}")

    def check_parameters_dtype(self, x: Array) -> None:
        """A float input of the dtype of the layer's own `Parameter` attributes (float32 and float64 do not
        mix, so that a float32 model stays float32); complex (a complex-step probe) mixes with either."""
        named = next(((k, v) for k, v in vars(self).items() if isinstance(v, Parameter)), None)
        if named is None:
            return
        like = named[1].value
        if x.dtype != like.dtype and x.dtype.kind == like.dtype.kind == "f":
            other = (f"build the model with dtype=np.{x.dtype}" if is_builtin(self) else  # a layer of yours makes its own
                     f"make its parameters {x.dtype} (self.{named[0]} = Parameter(value.astype(np.{x.dtype})))")
            raise DTypeError(f"{self!r} has {like.dtype} parameters but got a {x.dtype} input: cast the input with "
                             f"x.astype(np.{like.dtype}), or {other}")

    def check_grad(self, grad: Array, expected: Shape) -> None:
        """O(1): `grad` has the shape of the last output, and its dtype (float32 stays float32). The guard
        runs it before every backward."""
        if not isinstance(grad, np.ndarray) or grad.dtype != self._output_dtype:
            got = grad.dtype if isinstance(grad, np.ndarray) else type(grad).__name__
            raise GradientDTypeError(
                f"{self!r}.backward expected a gradient of the output's dtype {self._output_dtype}, got {got}"
            )
        if grad.shape != expected:
            raise GradientShapeError(f"{self!r}.backward expected a gradient of shape {expected}, got {grad.shape}")

    def node_shape(self, shapes: list[Shape]) -> Shape:
        """The output shape of this module called on graph nodes of `shapes` (one a parent, batch size 1),
        building weights that wait for the input shape."""
        raise ConfigError(f"{type(self).__name__} is neither a Layer nor a Merge")

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def probe_shape(self, run: Callable[[list[Array]], object], input_shapes: Sequence[Shape], signature: str) -> Shape:
        """The output shape that `run` (this module's forward) gives for inputs of `input_shapes`, found by
        running it once on probe inputs: `PROBE_BATCH` samples of each shape's non-batch axes, of
        the parameters' dtype. Every trace of that forward is undone (`untouched`), so a layer
        may be probed between a forward and its backward. A failing forward is a ShapeError that
        names the layer, the probe's shapes and the error, and says which method to override."""
        params = self.parameters()
        dtype = params[0].value.real.dtype if params else np.dtype(np.float64)
        probes = [_probe_input(shape, dtype) for shape in input_shapes]
        given = ", ".join(str(x.shape) for x in probes)
        where = f"a probe batch of shape {given}" if len(probes) == 1 else f"probe batches of shapes {given}"
        try:
            with untouched(self):
                out = run(probes)
        except Exception as e:  # whatever a custom forward raises, named with the probe that caused it
            raise ShapeError(
                f"{self!r} does not declare its output shape, and its forward raised on {where}: "
                f"{type(e).__name__}: {e}; override {signature} to return the output shape"
            ) from e
        if not isinstance(out, np.ndarray) or out.ndim == 0 or out.shape[0] != PROBE_BATCH:
            got = f"shape {out.shape}" if isinstance(out, np.ndarray) else f"a {type(out).__name__}"
            raise ShapeError(f"{self!r} gave {got} for {where}: an output keeps the batch axis first; override "
                             f"{signature} if the layer means it")
        return (input_shapes[0][0], *out.shape[1:])


PROBE_BATCH = 2
"""Samples in the probe input of `Module.probe_shape`: two, so that a layer estimating a variance
over the batch (BatchNorm in training) runs."""


def _probe_input(shape: Shape, dtype: np.dtype[Any]) -> Array:
    """`PROBE_BATCH` samples of `shape[1:]`: distinct values in [0.25, 0.75], positive and small, so that
    a log, a square root, a reciprocal or a variance of them is finite."""
    full = (PROBE_BATCH, *shape[1:])
    return np.linspace(0.25, 0.75, math.prod(full), dtype=dtype).reshape(full)


@contextmanager
def untouched(module: Module) -> Iterator[None]:
    """Within the block, run `module` freely: afterwards it is as it was. Restored, for the module and
    for every module it holds in an attribute (or in a list or tuple attribute), recursively: the
    attributes (a cache set or created by forward, the guard's record of it), the contents of list, dict
    and set attributes, the values of its Buffers (running statistics) and the states of its
    numpy Generators (a dropout's draws). The same objects stay in place, parameters among them.
    A lazy layer that built its weights in the block (a `Dense(units)` a custom layer holds) keeps
    them, as Keras builds sub-layers on the first call; only its caches are undone."""
    saved: list[tuple[dict[str, Any], dict[str, Any], list[Callable[[], None]]]] = []
    seen: set[int] = set()
    pending: list[Module] = [module]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        own = vars(current)
        restores: list[Callable[[], None]] = []
        for value in own.values():
            for item in (value, *value) if isinstance(value, list | tuple) else (value,):
                if isinstance(item, Module):
                    pending.append(item)
                else:
                    restores += _restore(item)
        saved.append((own, dict(own), restores))
    try:
        yield
    finally:
        for own, before, restores in saved:
            if _built(own, before):
                _undo_caches(own, before)
                continue
            own.clear()
            own.update(before)
            for restore in restores:
                restore()


def _built(now: dict[str, Any], before: dict[str, Any]) -> bool:
    """Whether a module's attributes gained a parameter: it built its weights (a lazy layer)."""
    held = {id(value) for value in before.values()}
    return any(isinstance(value, Parameter) and id(value) not in held for value in now.values())


def _undo_caches(now: dict[str, Any], before: dict[str, Any]) -> None:
    """Put back, in a module that built itself, what its forward cached: arrays (or tuples of them,
    shapes among them) where there were none, and `_output_dtype`; its weights and sizes stay."""
    for key in [k for k, v in now.items() if k == "_output_dtype" or
                (isinstance(v, np.ndarray | tuple) and not isinstance(before.get(k), np.ndarray | tuple))]:
        if key in before:
            now[key] = before[key]
        else:
            del now[key]


def _restore(item: object) -> list[Callable[[], None]]:
    """What puts `item`, an object a module holds, back as it is now: none, or one function."""
    if isinstance(item, Buffer):
        array, values = item.value, item.value.copy()

        def buffer() -> None:
            item.value = array
            np.copyto(array, values)

        return [buffer]
    if isinstance(item, np.random.Generator):
        state = item.bit_generator.state
        return [lambda: setattr(item.bit_generator, "state", state)]
    if isinstance(item, list):
        items = list(item)
        return [lambda: item.__setitem__(slice(None), items)]
    if isinstance(item, dict | set):
        copy = item.copy()

        def contents() -> None:
            item.clear()
            item.update(copy)

        return [contents]
    return []


_REUSED_FROM = 2**15
"""Entries from which `Layer.output` reuses an array (256 KB in float64): below, reuse saves nothing."""


class Layer(Module):
    """Subclass and override `forward(x)` and `backward(grad)`.

    `forward` keeps in `self` what `backward` needs; `backward(grad)` takes dL/d(output), sets the
    `grad` of each of the layer's parameters and returns dL/d(input). Trainable parameters are the
    `Parameter` attributes set in `__init__`: `parameters()` finds them, no registration needed. The
    output shape is inferred when a model is built (`output_shape`); override it to declare it.
    The guard checks the calls (`Module`): forward gets a float array with a non-empty batch, and
    backward comes after its forward with a gradient of the output's shape and dtype.

    >>> class Scale(Layer):
    ...     _x: Array  # the forward's input, for backward
    ...     def __init__(self) -> None:
    ...         super().__init__()
    ...         self.s = Parameter(np.ones(1), name="s")
    ...     def forward(self, x: Array) -> Array:
    ...         self._x = x
    ...         return x * self.s.value
    ...     def backward(self, grad: Array) -> Array:
    ...         self.s.grad[...] = (grad * self._x).sum()  # dL/ds = sum(g * x)
    ...         return grad * self.s.value
    >>> [name for name, _ in Scale().named_parameters()]
    ['s']
    """

    reuse_workspace: bool = False
    """True only while a training step of `fit` runs this layer, where the model alone reads its outputs
    and gradients until the next step (a `Sequential` of the framework's layers that calls it once, and
    not last), or while the gradient checker runs a stack of probes through it: its forward and
    backward may then return arrays of `workspace`, the same ones every step, as hand-written numpy
    allocates its arrays once, instead of new ones whose pages the OS faults in at every step (a
    tenth of a convnet's step). `fit` drops them when it ends."""
    _workspace: dict[str, Array] | None = None

    def workspace(self, name: str, shape: Shape, dtype: npt.DTypeLike) -> tuple[Array, bool]:
        """An array of `shape` and `dtype` for this layer's use, and whether it is new (then zeros, else as
        the layer left it): where arrays are reused (`reuse_workspace`), the one held as `name` if it
        has the shape and dtype; elsewhere always a new one, since a layer called twice in a forward (a
        graph's shared one) must keep each call's arrays."""
        if not self.reuse_workspace:
            return np.zeros(shape, dtype), True
        held = self._workspace
        if held is None:
            self._workspace = held = {}
        last = held.get(name)
        if last is not None and last.shape == shape and last.dtype == dtype:
            return last, False
        held[name] = fresh = np.zeros(shape, dtype)
        return fresh, True

    def output(self, name: str, shape: Shape, dtype: npt.DTypeLike) -> Array | None:
        """numpy's `out=` for a result of this layer: the `workspace` array within a training step (or a
        stack of the checker's probes), if it has `_REUSED_FROM` entries or more; else None, numpy
        making a new one at no cost of ours: a smaller one comes from memory malloc has at hand."""
        if not self.reuse_workspace or math.prod(shape) < _REUSED_FROM:
            return None
        return self.workspace(name, shape, dtype)[0]

    def release_workspace(self) -> None:
        """Drop the arrays `workspace` holds (`fit` does it when it ends)."""
        self._workspace = None

    def forward(self, x: Array) -> Array:
        raise NotImplementedError(f"{type(self).__name__} must implement forward(x)")

    def backward(self, grad: Array) -> Array:
        raise NotImplementedError(f"{type(self).__name__} must implement backward(grad)")

    def backward_params(self, grad: Array) -> None:
        """Set the parameters' gradients only: what the first layer of a model is asked for.

        Override where skipping dL/dx saves work (it does for `Dense` on wide inputs)."""
        self.backward(grad)

    def build(self, input_shape: Shape) -> None:
        """Create the weights once the input shape is known (`Dense(units)`); nothing by default."""

    def node_shape(self, shapes: list[Shape]) -> Shape:
        if len(shapes) != 1:
            raise ShapeError(f"takes one input, got {len(shapes)}: use a merge layer (Add, Concatenate)")
        self.build(shapes[0])
        return self.output_shape(shapes[0])

    def output_shape(self, input_shape: Shape) -> Shape:
        """The output shape for an input of `input_shape` (batch first). A layer that does not override
        this has it inferred by running its forward once on a probe batch (`Module.probe_shape`),
        when a model is built, never per batch; the built-in layers declare theirs.

        >>> class Pairs(Layer):  # (batch, n) -> (batch, n, 2)
        ...     def forward(self, x: Array) -> Array:
        ...         return np.stack([x, -x], axis=-1)
        >>> Pairs().output_shape((1, 3))
        (1, 3, 2)
        """
        return self.probe_shape(lambda xs: self.forward(xs[0]), [input_shape], "output_shape(input_shape)")

    # --- the gradient checker's hooks: K probes at once, each stacked on a leading axis -----------

    def forward_stack(self, xs: Array) -> Array:
        """The outputs for a stack of inputs on a leading probe axis, (K, batch, ...) -> (K, batch, ...):
        how the gradient checker runs K probes through the layer at once. One forward of K·batch
        samples for a layer of `independent_samples`, else a forward a probe; a layer that can do
        better overrides it (`Dropout` applies its mask to every probe)."""
        if self.independent_samples:
            return self.as_one_batch(xs)
        return np.stack([self.forward(x) for x in xs])

    def forward_shared(self, xs: SharedReal) -> SharedReal | None:
        """The outputs for a stack of probes that share their real part (`SharedReal`), by parts: the
        forward's own complex arithmetic, its real part taken once for the K probes (it may overwrite
        `xs.im`, never `xs.re`). None, the default and the answer for a stack it cannot take so (an
        imaginary part too large to stay exact), runs `forward_stack` on the stack joined instead;
        the checker takes the last probe of a tensor's first stack alone through `forward` too, so
        one that is not the forward is a StackingError."""
        return None

    def as_one_batch(self, xs: Array) -> Array:
        """`forward` of a stack (K, batch, ...) folded into one batch of K·batch samples, unfolded again."""
        try:
            out = self.forward(xs.reshape(-1, *xs.shape[2:]))
        except ShapeError as e:  # a layer that keeps something a sample of the batch it saw
            raise ShapeError(f"{str(e).rstrip()}; the gradient checker ran {len(xs)} probes as one batch of {len(xs)} x {xs.shape[1]} "
                             "samples, as independent_samples = True lets it: a layer that keeps something a sample "
                             "(Dropout's mask) overrides forward_stack") from e
        return out.reshape(*xs.shape[:2], *out.shape[1:])

    @property
    def runs_by_parts(self) -> bool:
        """Whether the layer has a `forward_shared` of its own."""
        return type(self).forward_shared is not Layer.forward_shared

    @property
    def stacks_probes(self) -> bool:
        """As `Module.stacks_probes`: the base's `forward_stack` loops unless the samples are independent."""
        return self.independent_samples or type(self).forward_stack is not Layer.forward_stack

    def perturbed_outputs(self, x: Array, out: Array, param: Parameter, indices: Indices, delta: complex) -> Stack:
        """The outputs for input `x` with `param.value.flat[i]` moved by `delta`, for each i of
        `indices`, stacked on a first axis (`out` is the output without a move): the gradient
        checker's probes of a parameter. A forward a probe; a layer linear in the parameter computes
        them from `out` (`Dense`, `Conv2D`)."""
        flat = param.value.reshape(-1)
        moved = np.empty((len(indices), *out.shape), dtype=np.result_type(out, delta))
        for k, index in enumerate(indices.tolist()):
            old = flat[index]
            flat[index] = old + delta
            try:
                moved[k] = self.forward(x)
            finally:
                flat[index] = old
        return moved

    def moved_output(self, x: Array, out: Array, param: Parameter, directions: Array, delta: complex) -> Stack:
        """The outputs with `param.value` moved by `delta` times each of `directions` (stacked on a
        first axis), stacked the same way: directional checks. A layer linear in the parameter
        overrides it (`Dense`)."""
        base = param.value.copy()
        moved = np.empty((len(directions), *out.shape), dtype=np.result_type(out, delta))
        try:
            for i, direction in enumerate(directions):
                np.add(base, delta * direction, out=param.value)
                moved[i] = self.forward(x)
            return moved
        finally:
            np.copyto(param.value, base)

    def perturbed_inputs(self, x: Array, out: Array, indices: Indices, delta: complex) -> Array:
        """The outputs with `x.flat[i]` moved by `delta`, for each i of `indices`, stacked on a first
        axis (`out` is the output at `x`): the gradient checker's probes of dL/dx. For a layer of
        `independent_samples`, the K moved samples alone run, in one forward, the others keeping
        `out`'s outputs; else a forward a probe. A layer that can skip the forward overrides it (`Dense`)."""
        dtype = np.result_type(x, delta)
        k = np.arange(len(indices))
        if self.independent_samples:
            samples, within = np.divmod(indices, math.prod(x.shape[1:]))
            alone = x[samples].astype(dtype)
            alone.reshape(len(indices), -1)[k, within] += delta
            moved = stacked(out, len(indices), delta)
            moved[k, samples] = self.forward(alone)
            return moved
        moved = np.empty((len(indices), *out.shape), dtype=np.result_type(out, delta))
        for i, index in zip(k.tolist(), indices.tolist()):
            one = x.astype(dtype)
            one.flat[index] += delta
            moved[i] = self.forward(one)
        return moved

    def moved_input(self, x: Array, out: Array, directions: Array, delta: complex) -> Array:
        """The outputs with `x` moved by `delta` times each of `directions`, stacked on a first axis."""
        return self.forward_stack(x + delta * directions)

    def __call__(self, node: "Node") -> "Node":
        """Call the layer on a symbolic node while building a graph `Model`."""
        return call(self, [node])

    def check_input(self, x: Array) -> None:
        """Run by the guard before every forward: O(1) for an input of the shape and dtype of the last
        one accepted (no parameter's value replaced since); any other goes through `validate_input`."""
        if not isinstance(x, np.ndarray):
            raise DTypeError(f"{self!r} expected a float array, got {type(x).__name__}: convert it with np.asarray")
        if (x.shape, x.dtype, Replacements.count) != self._accepted:
            self.validate_input(x)
            self._accepted = (x.shape, x.dtype, Replacements.count)  # after: building replaces values

    def validate_input(self, x: Array) -> None:
        """The checks of an input of a new shape or dtype (never per batch of a known one): a float array
        with a non-empty batch (`check_float`); `build(x.shape)`; the shape the layer declares, if it
        overrides `output_shape`; the dtype of its parameters. A layer with checks of its own
        overrides this and calls `super().validate_input(x)`."""
        self.check_float(x)
        self.build(x.shape)
        if type(self).output_shape is not Layer.output_shape:  # an inferred shape would probe this very forward
            self.output_shape(x.shape)
        self.check_parameters_dtype(x)


def is_builtin(part: object) -> bool:
    """Whether `part` (a layer, a loss) is one of the framework's own classes, not one of yours or a
    subclass of ours: only those are known not to keep what they are given, nor to mix stacked samples."""
    return type(part).__module__.startswith("framework.")


class reusing_workspace:  # noqa: N801  # used as a function, as contextmanager's are
    """Within the block (a training step), `layers` reuse their arrays (`Layer.reuse_workspace`)."""

    def __init__(self, layers: Sequence["Layer"]) -> None:
        self.layers = layers

    def __enter__(self) -> None:
        for layer in self.layers:
            layer.reuse_workspace = True

    def __exit__(self, *exception: object) -> None:
        for layer in self.layers:
            layer.reuse_workspace = False


def stacked(out: Array, k: int, delta: complex) -> npt.NDArray[Any]:
    """K copies of `out` on a first axis, in the dtype that moving them by `delta` needs: the start
    of K probes' outputs."""
    moved = np.empty((k, *out.shape), dtype=np.result_type(out, delta))
    moved[...] = out
    return moved


class KeepsShape(Layer):
    """A layer whose output has the shape of its input (the activations, Dropout, Identity): it says
    so, and its shape is never probed."""

    def output_shape(self, input_shape: Shape) -> Shape:
        return input_shape


class Merge(Module):
    """A layer of several inputs (`Add`, `Concatenate`, `Multiply`): `forward(xs)` takes a list of
    arrays, `backward(grad)` returns one gradient per input."""

    def forward(self, xs: Sequence[Array]) -> Array:
        raise NotImplementedError(f"{type(self).__name__} must implement forward(xs)")

    def backward(self, grad: Array) -> list[Array]:
        raise NotImplementedError(f"{type(self).__name__} must implement backward(grad)")

    def forward_stack(self, xs: Sequence[Array]) -> Array:
        """The outputs for stacks of inputs on a leading probe axis, as `Layer.forward_stack`."""
        if self.independent_samples:
            out = self.forward([x.reshape(-1, *x.shape[2:]) for x in xs])
            return out.reshape(*xs[0].shape[:2], *out.shape[1:])
        return np.stack([self.forward(list(probe)) for probe in zip(*xs)])

    @property
    def stacks_probes(self) -> bool:
        """As `Module.stacks_probes`."""
        return self.independent_samples or type(self).forward_stack is not Merge.forward_stack

    def output_shape(self, input_shapes: Sequence[Shape]) -> Shape:
        """The output shape for inputs of `input_shapes`; inferred by a probe forward unless overridden,
        as for `Layer.output_shape`."""
        return self.probe_shape(self.forward, input_shapes, "output_shape(input_shapes)")

    def check_input(self, xs: Sequence[Array]) -> None:
        """Run by the guard before every forward, as `Layer.check_input`: inputs like the last ones
        accepted pass at the cost of a look at each; others go through `validate_input`."""
        if isinstance(xs, np.ndarray) or not isinstance(xs, Sequence):
            raise ShapeError(f"{self!r} expected a list of arrays, got {a_kind(xs)}")
        for x in xs:
            if not isinstance(x, np.ndarray):
                raise DTypeError(f"{self!r} expected float arrays, got a {type(x).__name__}: convert it with np.asarray")
        if (seen := (tuple((x.shape, x.dtype) for x in xs), Replacements.count)) != self._accepted:
            self.validate_input(xs)
            self._accepted = seen

    def validate_input(self, xs: Sequence[Array]) -> None:
        """The checks of inputs unlike the last ones: float arrays with a non-empty batch, of the shapes
        the layer declares (if it overrides `output_shape`), of one float dtype (float32 and float64 do
        not mix; complex, a complex-step probe, mixes with either) and of its parameters'."""
        for x in xs:
            self.check_float(x)
        if type(self).output_shape is not Merge.output_shape:  # an inferred shape would probe this very forward
            self.output_shape([x.shape for x in xs])
        if len({x.dtype for x in xs if x.dtype.kind == "f"}) > 1:
            raise DTypeError(f"{self!r} expected float inputs of one dtype, got {', '.join(str(x.dtype) for x in xs)}: "
                             "cast them with x.astype(np.float64) or x.astype(np.float32)")
        for x in xs:
            self.check_parameters_dtype(x)

    def node_shape(self, shapes: list[Shape]) -> Shape:
        return self.output_shape(shapes)

    @classmethod
    def example(cls, rng: np.random.Generator) -> "tuple[Module, list[Array]]":
        return cls(), [rng.standard_normal((4, 5)), rng.standard_normal((4, 5))]

    def __call__(self, nodes: "Sequence[Node]") -> "Node":
        """Call the layer on symbolic nodes while building a graph `Model`."""
        return call(self, list(nodes))


class _Owner(Protocol):
    """Anything that lists its own parameters and buffers: a model held by a layer, or a layer that
    overrides the listing (`Nested`)."""

    trainable: bool

    def named_parameters(self, *, trainable: bool | None = None) -> list[tuple[str, Parameter]]: ...

    def named_buffers(self) -> list[tuple[str, Buffer]]: ...


def _collect(root: Module, kind: type[T], trainable: bool | None) -> list[tuple[str, T]]:
    """The `kind` objects (parameters, buffers or modules) reachable from `root`'s attributes, depth first in
    attribute order, each once, named by path; with `trainable`, only those whose path crosses no
    frozen layer (True) or only those whose path does (False)."""
    found: list[tuple[str, T]] = []
    seen: set[int] = {id(root)}

    def visit(value: object, path: str, on: bool) -> None:
        if isinstance(value, kind) and not isinstance(value, Module):
            if id(value) not in seen and trainable in (None, on):
                seen.add(id(value))
                found.append((path, value))
        elif isinstance(value, Module) and not _lists_itself(value):
            if id(value) not in seen:
                seen.add(id(value))
                if kind is Module:
                    found.append((path, cast(T, value)))
                for name, item in vars(value).items():
                    visit(item, f"{path}.{name}", on and value.trainable)
        elif isinstance(value, list | tuple):
            for i, item in enumerate(value):
                visit(item, f"{path}.{i}", on)
        elif isinstance(value, dict):
            for key, item in value.items():
                visit(item, f"{path}.{key}", on)
        elif _lists_own(value) and id(value) not in seen:  # a model, or a layer that lists its own (Nested)
            seen.add(id(value))
            owner = cast(_Owner, value)
            if kind is Module:  # the layer itself, not what its model holds
                if isinstance(value, Module):
                    found.append((path, cast(T, value)))
                return
            frozen = {id(p) for _, p in owner.named_parameters(trainable=False)} if kind is Parameter else set()
            listed = owner.named_parameters() if kind is Parameter else owner.named_buffers()
            for name, item in listed:
                visit(item, f"{path}.{name}", on and id(item) not in frozen)

    for name, value in vars(root).items():
        visit(value, name, root.trainable)
    return found


def _lists_own(value: object) -> bool:
    """Whether `value` lists its own parameters and buffers (a model, `Nested`): two attribute look-ups
    on its class, where a runtime Protocol check would cost 20 µs on every attribute the walk meets."""
    cls = type(value)
    return hasattr(cls, "named_parameters") and hasattr(cls, "named_buffers")


def _lists_itself(module: Module) -> bool:
    """Whether the module's class overrides how its parameters are listed (`Nested`)."""
    cls = type(module)
    return cls.named_parameters is not Module.named_parameters or cls.named_buffers is not Module.named_buffers


def unique(named: Iterable[tuple[str, T]]) -> list[tuple[str, T]]:
    """`named` with each object once (the first name it comes with): a container's parameters when
    two of its layers hold the same one."""
    kept: dict[int, tuple[str, T]] = {}
    for name, item in named:
        kept.setdefault(id(item), (name, item))
    return list(kept.values())
