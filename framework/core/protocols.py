"""What the parts of the framework need of a model, whatever its wiring: `Network`; a model that reruns
from one of its layer calls (`Resumable`); a layer that wraps one (`Wrapper`); and `LayerCall`, one
call of a layer in a model's forward."""

from collections.abc import Sequence
from typing import Literal, Protocol, overload, runtime_checkable

import attrs

from framework.core.arrays import Array, Inputs, Shape
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


class Network(Protocol):
    """A model as the layers below the containers see it (`Sequential` and `Model` are ones): the
    gradient checker, saving, the callbacks and `Nested` use nothing else."""

    @property
    def layers(self) -> Sequence[Module]: ...

    def forward(self, x: Inputs) -> Array: ...

    @overload
    def backward(self, grad: Array, *, input_grad: Literal[False] = False) -> None: ...
    @overload
    def backward(self, grad: Array, *, input_grad: Literal[True]) -> Array: ...
    @overload
    def backward(self, grad: Array, *, input_grad: bool) -> Array | None: ...

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


@runtime_checkable
class Wrapper(Protocol):
    """A layer that wraps a whole model (`Nested`): saving checks the model inside it too."""

    def wrapped_model(self) -> Network: ...
