"""What the parts of the framework need of a model, whatever its wiring: `Network`; a layer that wraps
one (`Wrapper`); and `LayerCall`, one call of a layer in a model's forward."""

from collections.abc import Sequence
from typing import Literal, Protocol, overload, runtime_checkable

import attrs

from framework.core.arrays import Array, Inputs, Shape
from framework.core.layer import Config, Module
from framework.core.parameter import Buffer, Parameter


@attrs.frozen
class LayerCall:
    """One call of a layer in a model's forward: its qualified name, the layer and the input it got."""

    name: str
    layer: Module
    x: Array | tuple[Array, ...]
    """The input, or the inputs of a `Merge` layer."""


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
class Wrapper(Protocol):
    """A layer that wraps a whole model (`Nested`): saving checks the model inside it too."""

    def wrapped_model(self) -> Network: ...
