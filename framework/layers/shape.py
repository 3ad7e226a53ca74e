"""Layers that pass values through unchanged, or only rearrange them: `Identity`, `Flatten`, `Reshape`."""

import math
from collections.abc import Sequence

import numpy as np

from framework.core.arrays import Array, Shape, WholeNumber
from framework.core.errors import ConfigError, ShapeError
from framework.core.layer import Config, KeepsShape, Layer, Module
from framework.core.registry import register_layer
from framework.core.validation import is_whole_number


@register_layer
class Identity(KeepsShape):
    """Returns its input as it is (the same array, no copy), and the gradient likewise.

    >>> import numpy as np
    >>> x = np.ones((2, 3))
    >>> Identity().forward(x) is x
    True
    """

    independent_samples = True

    def forward(self, x: Array) -> Array:
        return x

    def backward(self, grad: Array) -> Array:
        return grad  # dL/dx = g


@register_layer
class Reshape(Layer):
    """(batch, ...) -> (batch, *target_shape), in C order, as Keras' `Reshape`: `target_shape` leaves
    out the batch axis, and one of its entries may be -1, the size that keeps the number of entries.

    >>> import numpy as np
    >>> Reshape((8, 8, 1)).forward(np.zeros((5, 64))).shape
    (5, 8, 8, 1)
    >>> Reshape((-1, 2)).forward(np.zeros((5, 3, 4))).shape
    (5, 6, 2)
    """

    independent_samples = True

    _shape: Shape
    """The shape of the last forward's input."""

    def __init__(self, target_shape: Sequence[WholeNumber]) -> None:
        super().__init__()
        entries = list(target_shape) if isinstance(target_shape, Sequence) and not isinstance(target_shape, str) else []
        if not entries or not all(is_whole_number(n) and (n >= 1 or n == -1) for n in entries) or entries.count(-1) > 1:
            raise ConfigError(f"Reshape: target_shape must be a tuple of sizes >= 1 (without the batch axis), one of "
                              f"them -1 at most, got {target_shape!r}")
        self.target_shape: tuple[int, ...] = tuple(int(n) for n in entries)

    @classmethod
    def example(cls, rng: np.random.Generator) -> tuple[Module, list[Array]]:
        return cls((3, -1)), [rng.standard_normal((2, 6, 2))]

    def forward(self, x: Array) -> Array:
        self._shape = x.shape
        return x.reshape(len(x), *self.target_shape)

    def backward(self, grad: Array) -> Array:
        return grad.reshape(self._shape)  # dL/dx = g, in x's shape

    def output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) < 2:
            raise ShapeError(f"{self!r} expected input of shape (batch, ...) with at least 2 axes, got {input_shape}: a "
                             "single sample needs a batch axis, x[np.newaxis]")
        size, known = math.prod(input_shape[1:]), math.prod(n for n in self.target_shape if n != -1)
        if (size % known if -1 in self.target_shape else size != known):
            raise ShapeError(f"{self!r} cannot reshape {input_shape} to (batch, {', '.join(map(str, self.target_shape))}): "
                             f"{size} entries per sample, {'a multiple of ' if -1 in self.target_shape else ''}"
                             f"{known} expected")
        if self.target_shape[0] == -1 and size == known and len(self.target_shape) > 1:  # numpy's x.reshape(-1, ...)
            rest = self.target_shape[1:]
            raise ShapeError(f"{self!r} would give (batch, 1, {', '.join(map(str, rest))}): target_shape leaves out "
                             f"the batch axis, as in Keras: Reshape({rest}) (or Reshape({(1, *rest)}) for that axis "
                             "of 1)")
        return (input_shape[0], *(size // known if n == -1 else n for n in self.target_shape))

    def get_config(self) -> Config:
        return {"target_shape": list(self.target_shape)}

    def __repr__(self) -> str:
        return f"Reshape({self.target_shape})"


@register_layer
class Flatten(Reshape):
    """(batch, d1, d2, ...) -> (batch, d1·d2·...), in C order (channels-last images: each pixel's
    channels together); the batch axis is kept. `Reshape((-1,))`.

    >>> import numpy as np
    >>> Flatten().forward(np.zeros((5, 2, 3))).shape
    (5, 6)
    """

    def __init__(self) -> None:
        super().__init__((-1,))

    @classmethod
    def example(cls, rng: np.random.Generator) -> tuple[Module, list[Array]]:
        return cls(), [rng.standard_normal((4, 2, 3))]

    def get_config(self) -> Config:
        return {}

    def __repr__(self) -> str:
        return "Flatten()"
