"""ReLU, Sigmoid, Tanh, LeakyReLU, ELU and Softmax: values worked out by hand or with `math`,
gradients by the checker, numerical safety for huge inputs, the complex step and gradient shapes."""

import math

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings

from framework import ReLU, ShapeError, Sigmoid, check_layer
from framework.core.arrays import Shape
from framework.layers import ELU, LeakyReLU, Softmax, Tanh
from tests.helpers.layers import (
    ELEMENT_WISE, MATRICES, METHODS, SEEDS, X_HAND, H, Method, assert_passes, layers_and_upstream, normal,
)


def sigmoid(z: float) -> float:
    """The reference sigmoid, from `math`, written the two ways that cannot overflow."""
    return 1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z))


def test_relu_forward_and_backward_take_the_left_branch_at_zero() -> None:
    relu = ReLU()
    np.testing.assert_array_equal(relu.forward(np.array([[-1.5, 0.0, 2.0], [3.0, -0.0, -4.0]])),
                                  [[0.0, 0.0, 2.0], [3.0, 0.0, 0.0]])
    np.testing.assert_array_equal(relu.backward(np.array([[5.0, 6.0, 7.0], [8.0, 9.0, 10.0]])),
                                  [[0.0, 0.0, 7.0], [8.0, 0.0, 0.0]])


Z_VALUES = [-3.0, -0.5, 0.0, 1.5, 4.0]


def test_sigmoid_forward_matches_math() -> None:
    out = Sigmoid().forward(np.array([Z_VALUES]))
    assert out[0, 2] == 0.5
    assert out[0, 3] == pytest.approx(0.8175744761936437, rel=1e-15)  # 1 / (1 + e^-1.5)
    np.testing.assert_allclose(out, [[sigmoid(z) for z in Z_VALUES]], rtol=1e-15, atol=0)


def test_sigmoid_backward_is_upstream_times_a_one_minus_a() -> None:
    sig = Sigmoid()
    sig.forward(np.array([Z_VALUES]))
    upstream = [2.0, -1.0, 4.0, 0.5, 3.0]
    dz = sig.backward(np.array([upstream]))
    assert dz[0, 2] == 1.0  # 4 * 0.5 * 0.5
    expected = [g * sigmoid(z) * (1 - sigmoid(z)) for g, z in zip(upstream, Z_VALUES)]
    np.testing.assert_allclose(dz, [expected], rtol=1e-14, atol=0)


EXTREME_Z = [-1e4, -1000.0, -100.0, -30.0, -1e-3, 0.0, 1e-3, 30.0, 100.0, 1000.0, 1e4]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_is_stable_for_huge_inputs(dtype: type[np.floating[npt.NBitBase]]) -> None:
    # pytest runs with filterwarnings=error: an overflow in exp would fail this test
    z = np.array([EXTREME_Z], dtype=dtype)
    sig = Sigmoid()
    a = sig.forward(z)
    assert a.dtype == dtype
    assert not np.isnan(a).any()
    assert a[0, 0] == 0.0 and a[0, -1] == 1.0 and a[0, 5] == 0.5
    tiny = float(np.finfo(dtype).smallest_subnormal)
    np.testing.assert_allclose(a, [[sigmoid(float(v)) for v in z[0]]], rtol=1e-6 if dtype == np.float32 else 1e-15,
                               atol=2 * tiny)
    dz = sig.backward(np.ones_like(z))
    assert dz.dtype == dtype
    assert np.isfinite(dz).all() and (dz >= 0).all()
    assert dz[0, 5] == 0.25 and dz[0, 0] == 0.0 and dz[0, -1] == 0.0


def test_relu_complex_input_branches_on_the_real_part() -> None:
    out = ReLU().forward(np.array([[-1.5, 0.5, 3.0, 0.0]]) + 1j * H)
    assert out.dtype == np.complex128
    np.testing.assert_array_equal(out.real, [[0.0, 0.5, 3.0, 0.0]])
    np.testing.assert_array_equal(out.imag / H, [[0.0, 1.0, 1.0, 0.0]])


def test_sigmoid_complex_input_carries_a_one_minus_a() -> None:
    out = Sigmoid().forward(np.array([Z_VALUES]) + 1j * H)
    assert out.dtype == np.complex128
    np.testing.assert_allclose(out.real, [[sigmoid(z) for z in Z_VALUES]], rtol=1e-15)
    np.testing.assert_allclose(out.imag / H, [[sigmoid(z) * (1 - sigmoid(z)) for z in Z_VALUES]], rtol=1e-14)
    assert out.imag[0, 2] / H == 0.25


@pytest.mark.parametrize("index", [1, 2], ids=["ReLU", "Sigmoid"])
def test_activation_backward_with_wrong_gradient_shape_raises(index: int) -> None:
    layer, _ = layers_and_upstream()[index]
    layer.forward(X_HAND)
    with pytest.raises(ShapeError, match=r"expected a gradient of shape \(2, 3\), got \(3, 2\)"):
        layer.backward(np.ones((3, 2)))


# --- forward and backward values ---------------------------------------------------------------------


def test_tanh_forward_and_backward_match_math() -> None:
    x = np.array([[-2.0, 0.0, 0.5]])
    layer = Tanh()
    np.testing.assert_allclose(layer.forward(x), [[math.tanh(-2.0), 0.0, math.tanh(0.5)]], rtol=1e-15)
    dx = layer.backward(np.array([[1.0, 2.0, -1.0]]))
    np.testing.assert_allclose(dx, [[1 / math.cosh(-2.0) ** 2, 2.0, -1 / math.cosh(0.5) ** 2]], rtol=1e-14)


def test_leaky_relu_forward_and_backward_take_the_left_branch_at_zero() -> None:
    layer = LeakyReLU(alpha=0.1)
    np.testing.assert_array_equal(layer.forward(np.array([[-2.0, 0.0, 3.0]])), [[-0.2, 0.0, 3.0]])
    np.testing.assert_array_equal(layer.branch(), [[True, True, False]])
    np.testing.assert_array_equal(layer.backward(np.array([[1.0, 1.0, 1.0]])), [[0.1, 0.1, 1.0]])


def test_elu_forward_and_backward_match_math() -> None:
    layer = ELU(alpha=2.0)
    y = layer.forward(np.array([[-1.0, 0.0, 3.0]]))
    np.testing.assert_allclose(y, [[2 * math.expm1(-1.0), 0.0, 3.0]], rtol=1e-15)
    np.testing.assert_array_equal(layer.branch(), [[True, True, False]])
    # d/dx 2(e^x - 1) = 2e^x on the left branch (at 0 as well), 1 on the right
    np.testing.assert_allclose(layer.backward(np.array([[1.0, 1.0, 1.0]])), [[2 * math.exp(-1.0), 2.0, 1.0]],
                               rtol=1e-15)


def test_softmax_forward_matches_a_closed_form_on_each_axis() -> None:
    # exp of [0, ln 2, ln 3] is [1, 2, 3], whose total is 6; adding a constant changes nothing
    row = np.array([[0.0, math.log(2.0), math.log(3.0)]])
    np.testing.assert_allclose(Softmax().forward(row), [[1 / 6, 2 / 6, 3 / 6]], rtol=1e-15)
    np.testing.assert_allclose(Softmax().forward(row + 1000.0), [[1 / 6, 2 / 6, 3 / 6]], rtol=1e-12)
    column = np.array([[0.0, 5.0], [math.log(3.0), 5.0]])
    np.testing.assert_allclose(Softmax(axis=0).forward(column), [[1 / 4, 1 / 2], [3 / 4, 1 / 2]], rtol=1e-15)


def test_softmax_backward_matches_hand_computation() -> None:
    # s = [1/4, 3/4], g = [1, 0]: Σ g s = 1/4, so dx = s (g - 1/4) = [3/16, -3/16]
    layer = Softmax()
    layer.forward(np.array([[0.0, math.log(3.0)]]))
    np.testing.assert_allclose(layer.backward(np.array([[1.0, 0.0]])), [[3 / 16, -3 / 16]], rtol=1e-14)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", ELEMENT_WISE)
@settings(max_examples=8)
@given(shape=MATRICES, seed=SEEDS)
def test_activations_pass_check_layer(name: str, method: Method, shape: Shape, seed: int) -> None:
    assert_passes(check_layer(ELEMENT_WISE[name](), 2 * normal(seed, shape), method=method))


# --- numerical safety and dtypes ---------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_is_stable_for_huge_logits(dtype: type[np.floating[npt.NBitBase]]) -> None:
    layer = Softmax()
    s = layer.forward(np.array([[-1e4, 1e4], [1e4, 1e4], [-1e4, -1e4]], dtype=dtype))
    assert s.dtype == dtype
    np.testing.assert_array_equal(s, [[0.0, 1.0], [0.5, 0.5], [0.5, 0.5]])
    assert np.all(np.isfinite(layer.backward(np.ones((3, 2), dtype=dtype))))
    complex_s = Softmax().forward(np.array([[-1e4 + 1j * H, 1e4]]))
    np.testing.assert_array_equal(complex_s.real, [[0.0, 1.0]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_elu_and_tanh_are_stable_for_huge_inputs(dtype: type[np.floating[npt.NBitBase]]) -> None:
    x = np.array([[-1e4, 1e4]], dtype=dtype)
    elu, tanh = ELU(), Tanh()
    np.testing.assert_array_equal(elu.forward(x), [[-1.0, 1e4]])
    np.testing.assert_array_equal(elu.backward(np.ones_like(x)), [[0.0, 1.0]])
    np.testing.assert_array_equal(tanh.forward(x), [[-1.0, 1.0]])
    np.testing.assert_array_equal(tanh.backward(np.ones_like(x)), [[0.0, 0.0]])
