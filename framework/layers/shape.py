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

    def forward(self, x: Array) -> Array:
        return x

    def backward(self, grad: Array) -> Array:
        return grad  # dL/dx = g


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

    _shape: Shape
    """The shape of the last forward's input."""

    def forward(self, x: Array) -> Array:
        self._shape = x.shape
        return x.reshape(len(x), -1)

    def backward(self, grad: Array) -> Array:
        return grad.reshape(self._shape)  # dL/dx = g, in x's shape

    def output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) < 2:
            raise ShapeError(f"{self!r} expected input of shape (batch, ...) with at least 2 axes, got {input_shape}: "
                             "a single sample needs a batch axis, x.reshape(1, -1)")
        return (input_shape[0], math.prod(input_shape[1:]))
