"""Dense on its own: values worked out by hand, the seeded initialisations, the complex step,
dtypes and error messages that name the layer and the shapes."""

import math
import re
from typing import cast

import numpy as np
import pytest

from framework import CallOrderError, Dense, DTypeError, FrameworkError, ShapeError, ValueRangeError
from framework.core.arrays import Array
from framework.layers.dense import Init
from tests.helpers.layers import X_HAND, H, hand_dense


# --- forward and backward values ------------------------------------------------------------------


def test_dense_forward_matches_hand_computation() -> None:
    # [1, 0, -1] W = [1 - 5, 2 - 6] = [-4, -4];  [2, 1, 0] W = [2 + 3, 4 + 4] = [5, 8];  + b
    out = hand_dense().forward(X_HAND)
    np.testing.assert_array_equal(out, [[-3.5, -5.0], [5.5, 7.0]])


def test_dense_backward_matches_hand_computation() -> None:
    layer = hand_dense()
    layer.forward(X_HAND)
    dx = layer.backward(np.array([[1.0, -1.0], [2.0, 0.5]]))
    # dW = xᵀ g, db = Σ_batch g, dx = g Wᵀ, each worked out entry by entry
    np.testing.assert_array_equal(layer.W.grad, [[5.0, 0.0], [2.0, 0.5], [-1.0, 1.0]])
    np.testing.assert_array_equal(layer.b.grad, [3.0, -0.5])
    np.testing.assert_array_equal(dx, [[-1.0, -1.0, -1.0], [3.0, 8.0, 13.0]])


def test_dense_backward_params_sets_the_same_parameter_gradients() -> None:
    layer = hand_dense()
    layer.forward(X_HAND)
    layer.backward_params(np.array([[1.0, -1.0], [2.0, 0.5]]))
    np.testing.assert_array_equal(layer.W.grad, [[5.0, 0.0], [2.0, 0.5], [-1.0, 1.0]])
    np.testing.assert_array_equal(layer.b.grad, [3.0, -0.5])


@pytest.mark.parametrize("units", [1, 3])
def test_dense_gradients_follow_each_call_across_batch_sizes_and_dtypes(units: int) -> None:
    # the bias gradient is 1ᵀg with a cached vector of ones per (batch, dtype), dL/dx for one unit an
    # outer product: both checked against sums and products in the layer's dtype after every switch
    rng = np.random.default_rng(0)
    layers = {np.dtype(name): Dense(4, units, seed=0, dtype=name) for name in ("float64", "float32")}
    for batch, name in [(5, "float64"), (5, "float32"), (7, "float64"), (5, "float64"), (7, "float32")]:
        dtype = np.dtype(name)
        layer = layers[dtype]
        x, g = rng.standard_normal((batch, 4)).astype(dtype), rng.standard_normal((batch, units)).astype(dtype)
        layer.forward(x)
        dx = layer.backward(g)
        assert dx.dtype == layer.b.grad.dtype == dtype
        tol = 1e-5 if dtype == np.float32 else 1e-13
        x64, g64 = x.astype(np.float64), g.astype(np.float64)
        np.testing.assert_allclose(layer.b.grad, g64.sum(axis=0), rtol=tol, atol=tol)
        np.testing.assert_allclose(layer.W.grad, x64.T @ g64, rtol=tol, atol=tol)
        np.testing.assert_allclose(dx, g64 @ layer.W.value.T.astype(np.float64), rtol=tol, atol=tol)


def test_a_kept_dense_gradient_is_not_changed_by_the_next_backward() -> None:
    layer = Dense(3, 1, seed=0)
    layer.forward(X_HAND)
    g = np.array([[1.0], [2.0]])
    dx = layer.backward(g)
    kept = dx.copy()
    layer.forward(2 * X_HAND)
    layer.backward(-g)
    np.testing.assert_array_equal(dx, kept)
    np.testing.assert_array_equal(g, [[1.0], [2.0]])


def test_dense_init_is_seeded_he_normal_with_zero_bias() -> None:
    layer = Dense(2000, 50, seed=7)
    assert layer.W.shape == (2000, 50) and layer.b.shape == (50,)
    np.testing.assert_array_equal(layer.b.value, np.zeros(50))
    assert float(np.std(layer.W.value)) == pytest.approx(math.sqrt(2 / 2000), rel=0.02)
    assert abs(float(np.mean(layer.W.value))) < 0.002
    np.testing.assert_array_equal(Dense(2000, 50, seed=7).W.value, layer.W.value)
    assert not np.array_equal(Dense(2000, 50, seed=8).W.value, layer.W.value)


@pytest.mark.parametrize(("init", "variance"), [("he", 2 / 500), ("glorot", 2 / 600), ("lecun", 1 / 500)])
def test_dense_init_variances(init: Init, variance: float) -> None:
    layer = Dense(500, 100, seed=0, init=init)
    assert float(np.var(layer.W.value)) == pytest.approx(variance, rel=0.03)


# --- complex input: the imaginary part carries the derivative -------------------------------------


def test_dense_complex_input_carries_the_directional_derivative() -> None:
    direction = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    out = hand_dense().forward(X_HAND + 1j * H * direction)
    assert out.dtype == np.complex128
    np.testing.assert_array_equal(out.real, [[-3.5, -5.0], [5.5, 7.0]])
    # d(xW + b) along v is v W: row 0 of W, then row 2 of W
    np.testing.assert_allclose(out.imag / H, [[1.0, 2.0], [5.0, 6.0]], rtol=1e-15)


def test_dense_complex_input_on_float32_parameters_gives_complex_output() -> None:
    layer = Dense(3, 2, dtype=np.float32)
    layer.W.value[...] = [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
    out = layer.forward(X_HAND + 1j * H * np.ones((2, 3)))
    assert out.dtype.kind == "c"
    np.testing.assert_allclose(out.imag / H, [[9.0, 12.0], [9.0, 12.0]], rtol=1e-7)


def test_dense_backward_params_before_forward_raises() -> None:
    with pytest.raises(CallOrderError, match=r"Dense\(3 -> 2\)"):
        hand_dense().backward_params(np.ones((2, 2)))


# --- errors name the layer, what was expected and what came ---------------------------------------


def test_dense_wrong_feature_count_names_layer_and_shapes() -> None:
    with pytest.raises(ShapeError) as info:
        Dense(64, 4).forward(np.zeros((32, 63)))
    assert isinstance(info.value, ValueError) and isinstance(info.value, FrameworkError)
    message = str(info.value)
    assert "Dense(64 -> 4)" in message and "(batch, 64)" in message and "(32, 63)" in message
    assert "transpose" not in message


def test_dense_features_first_input_gets_a_transpose_hint() -> None:
    with pytest.raises(ShapeError, match=r"Dense\(64 -> 4\).*\(64, 32\).*transpose"):
        Dense(64, 4).forward(np.zeros((64, 32)))


@pytest.mark.parametrize(("shape", "hint"), [((64,), r"reshape\(1, -1\)"), ((2, 8, 64), r"\(2, 8, 64\)"),
                                             ((), r"got \(\)")])
def test_dense_wrong_rank_raises_shape_error(shape: tuple[int, ...], hint: str) -> None:
    with pytest.raises(ShapeError, match=r"Dense\(64 -> 4\) expected input of shape \(batch, 64\)") as info:
        Dense(64, 4).forward(np.zeros(shape))
    assert isinstance(info.value, ValueError)
    assert re.search(hint, str(info.value))


def test_dense_integer_input_raises_dtype_error() -> None:
    with pytest.raises(DTypeError) as info:
        Dense(64, 4).forward(cast(Array, np.ones((32, 64), dtype=np.int64)))
    assert isinstance(info.value, TypeError) and isinstance(info.value, FrameworkError)
    assert "Dense(64 -> 4)" in str(info.value) and "int64" in str(info.value)


def test_float32_input_to_float64_dense_raises_dtype_error() -> None:
    with pytest.raises(DTypeError, match=r"Dense\(64 -> 4\) has float64 parameters but got a float32 input") as info:
        Dense(64, 4).forward(np.zeros((32, 64), dtype=np.float32))
    assert isinstance(info.value, TypeError)


def test_float64_input_to_float32_dense_raises_dtype_error() -> None:
    with pytest.raises(DTypeError, match=r"float32 parameters but got a float64 input"):
        Dense(64, 4, dtype=np.float32).forward(np.zeros((32, 64)))


def test_dense_backward_with_wrong_gradient_shape_raises() -> None:
    layer = Dense(64, 4)
    layer.forward(np.zeros((32, 64)))
    with pytest.raises(ShapeError, match=r"Dense\(64 -> 4\)\.backward expected a gradient of shape \(32, 4\), "
                                         r"got \(32, 5\)"):
        layer.backward(np.zeros((32, 5)))


def test_dense_constructor_rejects_bad_arguments() -> None:
    with pytest.raises(ShapeError, match=r"Dense\(0, 3\)"):
        Dense(0, 3)
    with pytest.raises(DTypeError, match="int32"):
        Dense(3, 2, dtype=np.int32)
    with pytest.raises(ValueRangeError, match="unknown init 'xavier'"):
        Dense(3, 2, init="xavier")  # type: ignore[arg-type]
