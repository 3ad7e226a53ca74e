"""Layers that pass values through unchanged, or only rearrange them: `Identity`, `Flatten`."""

import math

import numpy as np

from framework.core.arrays import Array, Shape
from framework.core.errors import ShapeError
from framework.core.layer import KeepsShape, Layer, Module
from framework.core.registry import register_layer


@register_layer
class Identity(KeepsShape):
    """Returns its input as it is (the same array, no copy), and the gradient likewise.

    >>> import numpy as np
    >>> x = np.ones((2, 3))
    >>> Identity().forward(x) is x
    True
    """

    def __init__(self) -> None:
        super().__init__()
        self._shape: Shape | None = None

    def forward(self, x: Array) -> Array:
        self.check_float(x)
        self._shape = x.shape
        return x

    def backward(self, grad: Array) -> Array:
        shape = self.cached(self._shape)
        self.check_grad(grad, shape)
        self._shape = None
        return grad


@register_layer
class Flatten(Layer):
    """(batch, d1, d2, ...) -> (batch, d1·d2·...), in C order; the batch axis is kept.

    >>> import numpy as np
    >>> Flatten().forward(np.zeros((5, 2, 3))).shape
    (5, 6)
    """

    @classmethod
    def example(cls, rng: np.random.Generator) -> tuple[Module, list[Array]]:
        return cls(), [rng.standard_normal((4, 2, 3))]

    def __init__(self) -> None:
        super().__init__()
        self._shape: Shape | None = None

    def forward(self, x: Array) -> Array:
        self.check_float(x)
        out = self.output_shape(x.shape)
        self._shape = x.shape
        return x.reshape(out)

    def backward(self, grad: Array) -> Array:
        shape = self.cached(self._shape)
        self.check_grad(grad, (shape[0], math.prod(shape[1:])))
        self._shape = None
        return grad.reshape(shape)

    def output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) < 2:
            raise ShapeError(f"{self!r} expected input of shape (batch, ...) with at least 2 axes, got {input_shape}: "
                             "a single sample needs a batch axis, x.reshape(1, -1)")
        return (input_shape[0], math.prod(input_shape[1:]))
