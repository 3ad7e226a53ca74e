"""What the parts of the framework need of a model, whatever its wiring: `Network`; its `backward`
(`model_backward`); a model that reruns from one of its layer calls (`Resumable`); a layer that wraps
one (`Wrapper`); and `LayerCall`, one call of a layer in a model's forward."""

from collections.abc import Sequence
from typing import Any, Literal, Protocol, TypeVar, cast, overload, runtime_checkable

import attrs

from framework.core.arrays import Array, Inputs, Shape
from framework.core.complex_parts import Stack
from framework.core.layer import Config, Module
from framework.core.parameter import Buffer, Parameter


@attrs.frozen
class LayerCall:
    """One call of a layer in a model's forward: its qualified name, the layer, the input it got and,
    when the trace keeps it, the output it gave."""

    name: str
    layer: Module
    x: Array | tuple[Array, ...]
    """The input, or the inputs of a `Merge` layer."""
    out: Array | None = None
    """The output; None in a chain (`Sequential`), where it is the next call's input."""


G = TypeVar("G", contravariant=True)
"""What a model's backward takes: dL/d(output), or a list of them for a graph of several outputs."""
G_ = TypeVar("G_")


class ModelBackward(Protocol[G]):
    """A model's `backward`, as its callers see it: dL/dx comes back only when `input_grad=True`."""

    @overload
    def __call__(self, grad: G, *, input_grad: Literal[False] = False) -> None: ...
    @overload
    def __call__(self, grad: G, *, input_grad: Literal[True]) -> Array: ...
    @overload
    def __call__(self, grad: G, *, input_grad: bool) -> Array | None: ...


class _BackwardMethod(Protocol[G]):
    """A `ModelBackward` once looked up on a model (the method bound)."""

    def __get__(self, model: object, owner: type | None = None) -> ModelBackward[G]: ...


class _Backward(Protocol[G]):
    """How a model writes its backward: `def backward(self, grad, *, input_grad=False) -> Array | None`."""

    def __call__(self, model: Any, grad: G, /, *, input_grad: bool = False) -> Array | None: ...


def model_backward(method: _Backward[G_]) -> _BackwardMethod[G_]:
    """Decorate a model's `backward` so that callers see `ModelBackward`'s overloads, written once here
    rather than over every model class; the method itself is returned unchanged."""
    return cast(_BackwardMethod[G_], method)


class Network(Protocol):
    """A model as the layers below the containers see it (`Sequential` and `Model` are ones): the
    gradient checker, saving, the callbacks and `Nested` use nothing else."""

    @property
    def layers(self) -> Sequence[Module]: ...

    def forward(self, x: Inputs) -> Array: ...

    @model_backward
    def backward(self, grad: Array, *, input_grad: bool = False) -> Array | None: ...

    def named_parameters(self, *, trainable: bool | None = None) -> list[tuple[str, Parameter]]: ...

    def named_buffers(self) -> list[tuple[str, Buffer]]: ...

    def trace(self, x: Inputs) -> list[LayerCall]: ...

    def build(self, xs: tuple[Array, ...]) -> None: ...

    def output_shape(self, input_shape: Shape) -> Shape: ...

    def get_config(self) -> Config: ...

    def set_training(self, training: bool) -> None: ...

    @property
    def trainable(self) -> bool: ...

    @trainable.setter
    def trainable(self, trainable: bool) -> None: ...


@runtime_checkable
class Resumable(Protocol):
    """A model that reruns only the layer calls a changed one feeds (`Sequential` and `Model` are
    ones): the gradient checker, moving a parameter of one layer, reruns only what it changes."""

    def resume(self, start: int, h: Array) -> Array:
        """The model's output when call `start - 1` of its last `trace` gave `h`, every call it
        does not feed keeping the value it had in that trace."""
        ...

    def resume_stack(self, start: int, hs: Stack) -> Array:
        """`resume` for a stack of K such outputs on a leading probe axis: K model outputs, stacked."""
        ...


@runtime_checkable
class Wrapper(Protocol):
    """A layer that wraps a whole model (`Nested`): saving checks the model inside it too."""

    def wrapped_model(self) -> Network: ...
