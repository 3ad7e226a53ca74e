"""Add, Multiply and Concatenate: values worked out by hand, gradients by a complex step written here
and by the checker, dtypes, and shape mismatches refused at graph build and at forward."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framework import ShapeError, check_layer
from framework.core.arrays import Shape
from framework.core.layer import Merge
from framework.core.node import Input
from framework.layers import Add, Concatenate, Multiply
from tests.helpers.layers import MATRICES, METHODS, SEEDS, Floats, H, Method, assert_passes, normal


def assert_merge_gradients_by_complex_step(layer: Merge, xs: list[Floats], seed: int) -> None:
    """What `check_layer` does for one input, for each input of a merge layer: the derivative of
    L = Σ G ⊙ layer(xs) at each entry of each input is Im L(x + iH) / H, the other inputs left real."""
    out = layer.forward(xs)
    upstream = normal(seed, out.shape)
    grads = layer.backward(upstream.copy())
    assert len(grads) == len(xs)
    for i, (x, grad) in enumerate(zip(xs, grads)):
        assert grad.shape == x.shape
        numeric = np.empty(x.shape)
        for k in np.ndindex(*x.shape):
            probed = x.astype(np.complex128)
            probed[k] += 1j * H
            numeric[k] = np.sum(upstream * layer.forward([*xs[:i], probed, *xs[i + 1:]])).imag / H
        np.testing.assert_allclose(grad, numeric, rtol=1e-13, atol=1e-15, err_msg=f"{layer!r} input {i}")


def test_merge_forward_and_backward_match_hand_computation() -> None:
    a, b, c = np.array([[1.0, 2.0]]), np.array([[3.0, 4.0]]), np.array([[5.0, 6.0]])
    g = np.array([[1.0, -1.0]])
    add, multiply, concatenate = Add(), Multiply(), Concatenate()
    np.testing.assert_array_equal(add.forward([a, b, c]), [[9.0, 12.0]])
    grads = add.backward(g)
    assert all(np.array_equal(grad, g) for grad in grads) and len({id(grad) for grad in grads}) == 3
    np.testing.assert_array_equal(multiply.forward([a, b, c]), [[15.0, 48.0]])
    # d(abc)/da = bc, d/db = ac, d/dc = ab
    expected = [[[15.0, -24.0]], [[5.0, -12.0]], [[3.0, -8.0]]]
    for grad, want in zip(multiply.backward(g), expected, strict=True):
        np.testing.assert_array_equal(grad, want)
    np.testing.assert_array_equal(concatenate.forward([a, np.array([[7.0]])]), [[1.0, 2.0, 7.0]])
    first, second = concatenate.backward(np.array([[1.0, 2.0, 3.0]]))
    np.testing.assert_array_equal(first, [[1.0, 2.0]])
    np.testing.assert_array_equal(second, [[3.0]])


def test_multiply_gradient_is_right_where_inputs_are_zero() -> None:
    layer = Multiply()
    layer.forward([np.array([[0.0, 2.0]]), np.array([[3.0, 0.0]]), np.array([[5.0, 7.0]])])
    grads = layer.backward(np.ones((1, 2)))
    np.testing.assert_array_equal(grads[0], [[15.0, 0.0]])
    np.testing.assert_array_equal(grads[1], [[0.0, 14.0]])
    np.testing.assert_array_equal(grads[2], [[0.0, 0.0]])


def test_concatenate_along_a_middle_axis() -> None:
    a, b = np.zeros((2, 1, 3)), np.ones((2, 2, 3))
    layer = Concatenate(axis=1)
    y = layer.forward([a, b])
    assert y.shape == (2, 3, 3) and layer.output_shape([(2, 1, 3), (2, 2, 3)]) == (2, 3, 3)
    np.testing.assert_array_equal(y[:, 0], 0.0)
    np.testing.assert_array_equal(y[:, 1:], 1.0)


@settings(max_examples=10)
@given(shape=MATRICES, count=st.integers(2, 4), seed=SEEDS)
def test_add_and_multiply_gradients_by_complex_step(shape: Shape, count: int, seed: int) -> None:
    xs = [normal(seed + i, shape) for i in range(count)]
    assert_merge_gradients_by_complex_step(Add(), xs, seed)
    assert_merge_gradients_by_complex_step(Multiply(), xs, seed)


@settings(max_examples=10)
@given(batch=st.integers(1, 3), sizes=st.lists(st.integers(1, 3), min_size=2, max_size=3),
       axis=st.sampled_from([1, 2, -1]), seed=SEEDS)
def test_concatenate_gradients_by_complex_step(batch: int, sizes: list[int], axis: int, seed: int) -> None:
    shapes = [(batch, 2, size) if axis != 1 else (batch, size, 2) for size in sizes]
    xs = [normal(seed + i, shape) for i, shape in enumerate(shapes)]
    assert_merge_gradients_by_complex_step(Concatenate(axis=axis), xs, seed)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("layer", [Add(), Multiply(), Concatenate()], ids=repr)
def test_merge_layers_pass_check_layer(layer: Merge, method: Method) -> None:
    xs = [normal(0, (3, 2)), normal(1, (3, 2)), normal(2, (3, 2))]
    assert_passes(check_layer(layer, xs, method=method))


@pytest.mark.parametrize("layer", [Add(), Multiply(), Concatenate()], ids=repr)
def test_float32_kept_through_merge_layers(layer: Merge) -> None:
    xs = [np.ones((2, 3), dtype=np.float32), np.full((2, 3), 2.0, dtype=np.float32)]
    y = layer.forward(xs)
    assert y.dtype == np.float32
    assert all(grad.dtype == np.float32 for grad in layer.backward(np.ones_like(y)))


@pytest.mark.parametrize(
    "layer, shapes",
    [
        (Add(), [(1, 3), (1, 4)]),
        (Multiply(), [(1, 3), (1, 3), (1, 2)]),
        (Add(), [(1, 3)]),
        (Concatenate(), [(1, 3), (1, 2, 2)]),
        (Concatenate(axis=1), [(1, 3, 2), (1, 3, 1)]),
        (Concatenate(axis=-2), [(1, 3)]),
        (Concatenate(axis=-2), [(1, 3), (1, 3)]),
    ],
    ids=lambda value: repr(value),
)
def test_merge_shape_mismatches_raise_at_graph_build_and_at_forward(layer: Merge, shapes: list[Shape]) -> None:
    listed = ", ".join(map(str, shapes)).replace("(", r"\(").replace(")", r"\)")
    with pytest.raises(ShapeError, match=rf"{type(layer).__name__}\(.*\) expected .*got shapes {listed}$"):
        layer.output_shape(shapes)
    with pytest.raises(ShapeError, match=rf"{type(layer).__name__}\(.*\) cannot be called on"):
        layer([Input(shape[1:]) for shape in shapes])
    batch_of_two = [(2, *shape[1:]) for shape in shapes]
    with pytest.raises(ShapeError, match=rf"{type(layer).__name__}\(.*\) expected .*got shapes"):
        layer.forward([np.ones(shape) for shape in batch_of_two])


def test_merge_layers_never_broadcast() -> None:
    with pytest.raises(ShapeError, match=r"Add\(\) expected at least 2 inputs of one shape, got shapes \(4, 3\), \(1,"):
        Add().forward([np.ones((4, 3)), np.ones((1, 3))])
    with pytest.raises(ShapeError, match=r"got shapes \(4, 3\), \(3,\)"):
        Multiply().forward([np.ones((4, 3)), np.ones(3)])
    with pytest.raises(ShapeError, match=r"Concatenate\(axis=-1\) .*got shapes \(4, 3\), \(2, 1\)"):
        Concatenate().forward([np.ones((4, 3)), np.ones((2, 1))])


def test_graph_build_infers_merge_output_shapes() -> None:
    a, b = Input(3), Input(2)
    assert Concatenate()([a, b]).shape == (None, 5)
    assert Add()([a, a]).shape == (None, 3)
    assert Multiply()([b, b, b]).shape == (None, 2)
