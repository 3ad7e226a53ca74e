"""The checks at the edge (`framework.core.guard.Checked`): a custom layer that writes none of them
gets the built-in layers' input, gradient and call-order errors, and an input of a known shape is
validated once, not per batch."""

import re
from collections.abc import Sequence

import numpy as np
import pytest

from framework import Array, CallOrderError, Dense, DTypeError, Layer, Merge, Parameter, ShapeError
from framework.core.arrays import Shape


class Scale(Layer):
    """A custom layer with no check of its own."""

    _x: Array

    def __init__(self) -> None:
        super().__init__()
        self.s = Parameter(np.full(3, 2.0), name="s")

    def forward(self, x: Array) -> Array:
        self._x = x
        return x * self.s.value

    def backward(self, grad: Array) -> Array:
        self.s.grad[...] = (grad * self._x).sum(axis=0)  # dL/ds = Σ_batch g·x
        return grad * self.s.value  # dL/dx = g·s

    def __repr__(self) -> str:
        return "Scale()"


class Declared(Scale):
    """The same, declaring its shape: (batch, 3) only."""

    validated = 0

    def validate_input(self, x: Array) -> None:
        Declared.validated += 1
        super().validate_input(x)

    def output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 2 or input_shape[1] != 3:
            raise ShapeError(f"{self!r} expected input of shape (batch, 3), got {input_shape}")
        return input_shape


class Product(Merge):
    """A custom merge layer with no check of its own."""

    _xs: list[Array]

    def forward(self, xs: Sequence[Array]) -> Array:
        self._xs = list(xs)
        return xs[0] * xs[1]

    def backward(self, grad: Array) -> list[Array]:
        a, b = self._xs
        return [grad * b, grad * a]  # dL/da = g·b, dL/db = g·a


def test_a_custom_layer_without_checks_refuses_a_backward_before_its_forward_and_a_second_one() -> None:
    layer = Scale()
    with pytest.raises(CallOrderError, match=re.escape("Scale(): backward() called without a forward() before it")):
        layer.backward(np.ones((2, 3)))
    layer.forward(np.ones((2, 3)))
    layer.backward(np.ones((2, 3)))
    with pytest.raises(CallOrderError, match="each backward needs its own forward"):
        layer.backward(np.ones((2, 3)))


def test_a_custom_layer_without_checks_refuses_a_backward_after_a_forward_that_raised() -> None:
    layer = Scale()
    layer.forward(np.ones((2, 3)))
    with pytest.raises(DTypeError):
        layer.forward(np.ones((2, 3), dtype=np.int64))
    with pytest.raises(CallOrderError, match=r"Scale\(\): backward\(\) called after a forward\(\) that raised"):
        layer.backward(np.ones((2, 3)))


def test_a_custom_layer_without_checks_names_itself_and_the_dtypes_of_a_bad_input() -> None:
    with pytest.raises(DTypeError, match=re.escape("Scale() expected a float input, got int64")):
        Scale().forward(np.ones((2, 3), dtype=np.int64))
    with pytest.raises(DTypeError, match=re.escape("Scale() expected a float array, got list")):
        Scale().forward([[1.0, 2.0, 3.0]])  # type: ignore[arg-type]
    with pytest.raises(DTypeError, match=re.escape("Scale() has float64 parameters but got a float32 input: cast the "
                                                   "input with x.astype(np.float64), or make its parameters float32 (self.")):
        Scale().forward(np.ones((2, 3), dtype=np.float32))
    with pytest.raises(ShapeError, match=re.escape("Scale() expected a non-empty batch (the first axis is the batch), "
                                                   "got shape (0, 3)")):
        Scale().forward(np.ones((0, 3)))


def test_a_custom_layer_without_checks_names_the_expected_and_the_received_gradient() -> None:
    layer = Scale()
    layer.forward(np.ones((2, 3)))
    with pytest.raises(ShapeError, match=re.escape("Scale().backward expected a gradient of shape (2, 3), got (3, 2)")):
        layer.backward(np.ones((3, 2)))
    with pytest.raises(DTypeError, match=re.escape(
            "Scale().backward expected a gradient of the output's dtype float64, got float32")):
        layer.backward(np.ones((2, 3), dtype=np.float32))
    np.testing.assert_array_equal(layer.backward(np.ones((2, 3))), np.full((2, 3), 2.0))  # refused ones took nothing


def test_a_custom_layer_that_declares_its_shape_has_its_input_checked_with_it_once_per_shape() -> None:
    layer = Declared()
    with pytest.raises(ShapeError, match=re.escape("Scale() expected input of shape (batch, 3), got (2, 4)")):
        layer.forward(np.ones((2, 4)))
    Declared.validated = 0
    for _ in range(5):
        layer.forward(np.ones((2, 3)))
        layer.backward(np.ones((2, 3)))
    layer.forward(np.ones((4, 3)))
    assert Declared.validated == 2  # (2, 3) once, then (4, 3)
    layer.s.value = layer.s.value.astype(np.float32)  # a replaced value: the next input is checked again
    with pytest.raises(DTypeError, match="has float32 parameters but got a float64 input"):
        layer.forward(np.ones((4, 3)))


def test_a_custom_merge_layer_without_checks_gets_the_checks_of_the_built_in_ones() -> None:
    layer = Product()
    with pytest.raises(CallOrderError, match="without a forward"):
        layer.backward(np.ones((2, 3)))
    with pytest.raises(ShapeError, match=r"Product\(\) expected a list of arrays, got a ndarray"):
        layer.forward(np.ones((2, 3)))  # type: ignore[arg-type]
    with pytest.raises(DTypeError, match=r"Product\(\) expected float inputs of one dtype, got float64, float32"):
        layer.forward([np.ones((2, 3)), np.ones((2, 3), dtype=np.float32)])
    layer.forward([np.ones((2, 3)), np.ones((2, 3))])
    with pytest.raises(ShapeError, match=re.escape("Product().backward expected a gradient of shape (2, 3), got (2, 2)")):
        layer.backward(np.ones((2, 2)))


def test_a_backward_that_calls_another_backward_of_its_own_is_checked_once() -> None:
    dense = Dense(3, 2, seed=0)  # Dense.backward calls backward_params; Layer.backward_params calls backward
    dense.forward(np.ones((4, 3)))
    assert dense.backward(np.ones((4, 2))).shape == (4, 3)
    layer = Scale()
    layer.forward(np.ones((2, 3)))
    layer.backward_params(np.ones((2, 3)))
    np.testing.assert_array_equal(layer.s.grad, [2.0, 2.0, 2.0])
    with pytest.raises(CallOrderError):
        layer.backward_params(np.ones((2, 3)))
