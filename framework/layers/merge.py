"""Layers of several inputs: `Add`, `Multiply` (inputs of one shape) and `Concatenate` (along an axis).
Shapes must match exactly: nothing is ever broadcast."""

from collections.abc import Sequence

import numpy as np

from framework.core.arrays import Array, Shape, WholeNumber
from framework.core.errors import ShapeError, ValueRangeError
from framework.core.validation import whole_number
from framework.core.layer import Config, Merge
from framework.core.registry import register_layer


def _same_shapes(layer: Merge, input_shapes: Sequence[Shape]) -> Shape:
    if len(input_shapes) < 2 or any(shape != input_shapes[0] for shape in input_shapes):
        raise ShapeError(f"{layer!r} expected at least 2 inputs of one shape, got shapes "
                         f"{', '.join(map(str, input_shapes)) or 'none'}")
    return input_shapes[0]


@register_layer
class Add(Merge):
    """The element-wise sum of at least two inputs of one shape.

    >>> Add().forward([np.array([[1.0, 2.0]]), np.array([[3.0, 4.0]])])
    array([[4., 6.]])
    """

    independent_samples = True

    _inputs: int
    """How many inputs the last forward added."""

    def forward(self, xs: Sequence[Array]) -> Array:
        self._inputs = len(xs)
        y = xs[0].astype(np.result_type(*xs), copy=True)
        for x in xs[1:]:
            y += x
        return y

    def backward(self, grad: Array) -> list[Array]:
        return [grad, *(grad.copy() for _ in range(self._inputs - 1))]  # dL/dx_i = g, an array for each input

    def output_shape(self, input_shapes: Sequence[Shape]) -> Shape:
        return _same_shapes(self, input_shapes)


@register_layer
class Multiply(Merge):
    """The element-wise product of at least two inputs of one shape.

    >>> Multiply().forward([np.array([[1.0, 2.0]]), np.array([[3.0, 4.0]])])
    array([[3., 8.]])
    """

    independent_samples = True

    _xs: list[Array]
    """The last forward's inputs."""

    def forward(self, xs: Sequence[Array]) -> Array:
        self._xs = list(xs)
        y = xs[0].astype(np.result_type(*xs), copy=True)
        for x in xs[1:]:
            y *= x
        return y

    def backward(self, grad: Array) -> list[Array]:
        xs = self._xs
        # dL/dx_i = g · Π_{j≠i} x_j = (g · x_0 ⋯ x_{i-1}) · (x_{i+1} ⋯ x_{n-1}): no division, zeros are fine
        before = [grad]
        for x in xs[:-1]:
            before.append(before[-1] * x)
        grads, after = [before[-1]], xs[-1]
        for i in range(len(xs) - 2, -1, -1):
            grads.append(before[i] * after)
            if i:
                after = after * xs[i]
        return grads[::-1]

    def output_shape(self, input_shapes: Sequence[Shape]) -> Shape:
        return _same_shapes(self, input_shapes)


@register_layer
class Concatenate(Merge):
    """Joins at least two inputs along `axis` (the last by default); their other axes must match.
    The batch axis (0) cannot be joined.

    >>> Concatenate().forward([np.array([[1.0, 2.0]]), np.array([[3.0]])])
    array([[1., 2., 3.]])
    """

    independent_samples = True

    _sizes: list[int]
    """The sizes along `axis` of the last forward's inputs."""

    def __init__(self, axis: WholeNumber = -1) -> None:
        super().__init__()
        self.axis = whole_number(axis, "Concatenate: axis")
        if self.axis == 0:
            raise ValueRangeError("Concatenate: axis=0 would join the samples of the batch; use axis=1 or above, or -1")

    def forward(self, xs: Sequence[Array]) -> Array:
        self._sizes = [x.shape[self.axis] for x in xs]
        return np.concatenate(xs, axis=self.axis)

    def backward(self, grad: Array) -> list[Array]:
        ends = np.cumsum(self._sizes)
        # dL/dx_i = the slice of g that x_i filled, an array of its own
        return [part.copy() for part in np.split(grad, ends[:-1], axis=self.axis)]

    def output_shape(self, input_shapes: Sequence[Shape]) -> Shape:
        first = input_shapes[0] if input_shapes else ()
        axis = self.axis % len(first) if -len(first) <= self.axis < len(first) else 0

        def others(shape: Shape) -> Shape:
            return shape[:axis] + shape[axis + 1:]

        if len(input_shapes) < 2 or axis == 0 or any(
            len(shape) != len(first) or others(shape) != others(first) for shape in input_shapes
        ):
            raise ShapeError(f"{self!r} expected at least 2 inputs of one rank with an axis {self.axis} besides the "
                             f"batch axis, and equal sizes on every other axis, got shapes "
                             f"{', '.join(map(str, input_shapes)) or 'none'}")
        return (*first[:axis], sum(shape[axis] for shape in input_shapes), *first[axis + 1:])

    def get_config(self) -> Config:
        return {"axis": self.axis}

    def __repr__(self) -> str:
        return f"Concatenate(axis={self.axis})"
