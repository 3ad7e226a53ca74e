"""Dense, ReLU, Sigmoid and BCELoss on their own: values worked out by hand or with `math`,
numerical safety, the complex step, dtypes, call order and error messages."""

import math
import re
from typing import cast

import numpy as np
import numpy.typing as npt
import pytest

from framework import (
    BCELoss,
    BCEWithLogitsLoss,
    CallOrderError,
    Dense,
    DTypeError,
    FrameworkError,
    Layer,
    Loss,
    NonFiniteError,
    Parameter,
    ReLU,
    Sequential,
    ShapeError,
    Sigmoid,
    ValueRangeError,
)
from framework.core.arrays import Array
from framework.layers.dense import Init
from models import four_three_one

H = 1e-20
"""Complex step: Im f(x + iHv) / H is the derivative of f along v, with no subtraction error."""


def sigmoid(z: float) -> float:
    """The reference sigmoid, from `math`, written the two ways that cannot overflow."""
    return 1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z))


def hand_dense() -> Dense:
    """Dense(3 -> 2) with W = [[1, 2], [3, 4], [5, 6]] and b = [0.5, -1]."""
    layer = Dense(3, 2)
    layer.W.value[...] = [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
    layer.b.value[...] = [0.5, -1.0]
    return layer


X_HAND: npt.NDArray[np.float64] = np.array([[1.0, 0.0, -1.0], [2.0, 1.0, 0.0]])


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


def test_bce_forward_and_backward_match_hand_computation() -> None:
    loss = BCELoss()
    cost = loss.forward(np.array([[0.9], [0.2]]), np.array([[1.0], [0.0]]))
    assert isinstance(cost, float)
    assert cost == pytest.approx(-(math.log(0.9) + math.log(0.8)) / 2, rel=1e-15)
    assert cost == pytest.approx(0.164252033486018, rel=1e-14)
    # dJ/da = (a - y) / (a (1 - a) n): -0.1 / (0.09 * 2) and 0.2 / (0.16 * 2)
    np.testing.assert_allclose(loss.backward(), [[-5 / 9], [0.625]], rtol=1e-15)


def test_bce_is_the_mean_over_every_entry() -> None:
    loss = BCELoss()
    cost = loss.forward(np.array([[0.25, 0.5], [0.75, 0.1]]), np.array([[0.0, 1.0], [1.0, 0.0]]))
    assert cost == pytest.approx(-(2 * math.log(0.75) + math.log(0.5) + math.log(0.9)) / 4, rel=1e-15)
    np.testing.assert_allclose(loss.backward(), [[1 / 3, -0.5], [-1 / 3, 5 / 18]], rtol=1e-14)


def test_bce_clips_saturated_predictions_to_a_finite_cost_with_zero_gradient() -> None:
    loss = BCELoss()
    cost = loss.forward(np.array([[0.0], [1.0], [0.5]]), np.array([[0.0], [1.0], [1.0]]))
    eps = float(np.finfo(np.float64).eps)
    # the clipped entries cost -log(1 - eps) each; the third costs log 2
    assert cost == pytest.approx((2 * eps + math.log(2)) / 3, rel=1e-12)
    np.testing.assert_allclose(loss.backward(), [[0.0], [0.0], [-2 / 3]], rtol=1e-15, atol=0)


def test_bce_branch_marks_the_clipped_entries_and_is_all_false_when_none_is() -> None:
    loss = BCELoss()
    loss.forward(np.array([[0.0], [0.5], [1.0]]), np.array([[0.0], [1.0], [1.0]]))
    np.testing.assert_array_equal(cast(npt.NDArray[np.bool_], loss.branch()), [[True], [False], [True]])
    loss.forward(np.array([[0.25], [0.5]]), np.array([[0.0], [1.0]]))
    np.testing.assert_array_equal(cast(npt.NDArray[np.bool_], loss.branch()), [[False], [False]])


def test_bce_backward_follows_the_last_forward_and_leaves_the_predictions_alone() -> None:
    loss = BCELoss()
    y = np.array([[1.0], [0.0]])
    first, second = np.array([[0.9], [0.2]]), np.array([[0.5], [0.25]])
    loss.forward(first, y)
    loss.forward(second, y)
    grad = loss.backward()  # dJ/da = (a - y) / (a (1 - a) n) at the second predictions
    np.testing.assert_allclose(grad, [[-1.0], [2 / 3]], rtol=1e-15)
    grad[...] = 0  # the gradient is the caller's: the next forward and backward start afresh
    np.testing.assert_array_equal(second, [[0.5], [0.25]])
    loss.forward(second, y)
    np.testing.assert_allclose(loss.backward(), [[-1.0], [2 / 3]], rtol=1e-15)
    saturated = np.array([[1.0], [0.0]])
    loss.forward(saturated, y)  # clipped for the cost, not in the caller's array
    np.testing.assert_array_equal(saturated, [[1.0], [0.0]])
    np.testing.assert_array_equal(loss.backward(), [[0.0], [0.0]])


def test_bce_accepts_integer_and_boolean_labels() -> None:
    y_pred = np.array([[0.9], [0.2]])
    expected = -(math.log(0.9) + math.log(0.8)) / 2
    assert BCELoss().forward(y_pred, cast(Array, np.array([[1], [0]]))) == pytest.approx(expected, rel=1e-15)
    assert BCELoss().forward(y_pred, cast(Array, np.array([[True], [False]]))) == pytest.approx(expected, rel=1e-15)


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


def test_bce_complex_input_carries_dj_da() -> None:
    a = [0.9, 0.2, 0.6]
    y = [1.0, 0.0, 0.0]
    for k in range(3):
        step = np.zeros((3, 1))
        step[k, 0] = H
        cost = BCELoss().forward(np.array([a]).T + 1j * step, np.array([y]).T)
        assert isinstance(cost, complex)
        assert cost.real == pytest.approx(-(math.log(0.9) + math.log(0.8) + math.log(0.4)) / 3, rel=1e-15)
        # dJ/da_k = -(y_k / a_k - (1 - y_k) / (1 - a_k)) / n
        assert cost.imag / H == pytest.approx(-(y[k] / a[k] - (1 - y[k]) / (1 - a[k])) / 3, rel=1e-14)


# --- float32 stays float32 --------------------------------------------------------------------------


def test_float32_kept_through_each_layer_forward_and_backward() -> None:
    x = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]], dtype=np.float32)
    dense = Dense(3, 2, seed=0, dtype=np.float32)
    assert dense.W.value.dtype == np.float32 and dense.b.value.dtype == np.float32
    y = dense.forward(x)
    assert y.dtype == np.float32
    assert dense.backward(np.ones((2, 2), dtype=np.float32)).dtype == np.float32
    assert dense.W.grad.dtype == np.float32 and dense.b.grad.dtype == np.float32
    for layer in (ReLU(), Sigmoid()):
        assert layer.forward(x).dtype == np.float32
        assert layer.backward(np.ones_like(x)).dtype == np.float32


@pytest.mark.parametrize("labels", [np.array([[1.0], [0.0]], dtype=np.float32), np.array([[1], [0]])],
                         ids=["float32 labels", "int labels"])
def test_float32_kept_through_bce(labels: Array) -> None:
    loss = BCELoss()
    cost = loss.forward(np.array([[0.9], [0.2]], dtype=np.float32), labels)
    assert cost == pytest.approx(0.164252033486018, rel=1e-6)
    grad = loss.backward()
    assert grad.dtype == np.float32
    np.testing.assert_allclose(grad, [[-5 / 9], [0.625]], rtol=1e-6)


def test_float32_kept_through_a_model() -> None:
    model = four_three_one(3, dtype=np.float32)
    x = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]], dtype=np.float32)
    y = np.array([[1.0], [0.0]], dtype=np.float32)
    loss = BCELoss()
    y_pred = model.forward(x)
    assert y_pred.dtype == np.float32
    loss.forward(y_pred, y)
    dx = model.backward(loss.backward(), input_grad=True)
    assert dx.dtype == np.float32
    assert {str(p.value.dtype) for p in model.parameters()} == {"float32"}
    assert {str(p.grad.dtype) for p in model.parameters()} == {"float32"}


# --- call order -------------------------------------------------------------------------------------


def layers_and_upstream() -> list[tuple[Layer, Array]]:
    return [(hand_dense(), np.ones((2, 2))), (ReLU(), np.ones((2, 3))), (Sigmoid(), np.ones((2, 3)))]


@pytest.mark.parametrize("index", [0, 1, 2], ids=["Dense", "ReLU", "Sigmoid"])
def test_backward_before_forward_raises_call_order_error(index: int) -> None:
    layer, upstream = layers_and_upstream()[index]
    with pytest.raises(CallOrderError, match="without a forward") as info:
        layer.backward(upstream)
    assert isinstance(info.value, RuntimeError) and isinstance(info.value, FrameworkError)
    assert repr(layer) in str(info.value)


@pytest.mark.parametrize("index", [0, 1, 2], ids=["Dense", "ReLU", "Sigmoid"])
def test_second_backward_after_one_forward_raises(index: int) -> None:
    layer, upstream = layers_and_upstream()[index]
    layer.forward(X_HAND)
    layer.backward(upstream)
    with pytest.raises(CallOrderError, match=r"each backward needs its own forward"):
        layer.backward(upstream)
    layer.forward(X_HAND)
    assert layer.backward(upstream).shape == X_HAND.shape


def test_dense_backward_params_before_forward_raises() -> None:
    with pytest.raises(CallOrderError, match=r"Dense\(3 -> 2\)"):
        hand_dense().backward_params(np.ones((2, 2)))


def test_loss_backward_before_forward_and_twice_raises() -> None:
    loss = BCELoss()
    with pytest.raises(CallOrderError, match=r"BCELoss\(\)") as info:
        loss.backward()
    assert isinstance(info.value, RuntimeError)
    loss.forward(np.array([[0.9]]), np.array([[1.0]]))
    loss.backward()
    with pytest.raises(CallOrderError):
        loss.backward()


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


@pytest.mark.parametrize("index", [1, 2], ids=["ReLU", "Sigmoid"])
def test_activation_backward_with_wrong_gradient_shape_raises(index: int) -> None:
    layer, _ = layers_and_upstream()[index]
    layer.forward(X_HAND)
    with pytest.raises(ShapeError, match=r"expected a gradient of shape \(2, 3\), got \(3, 2\)"):
        layer.backward(np.ones((3, 2)))


def test_dense_constructor_rejects_bad_arguments() -> None:
    with pytest.raises(ShapeError, match=r"Dense\(0, 3\)"):
        Dense(0, 3)
    with pytest.raises(DTypeError, match="int32"):
        Dense(3, 2, dtype=np.int32)
    with pytest.raises(ValueRangeError, match="unknown init 'xavier'"):
        Dense(3, 2, init="xavier")  # type: ignore[arg-type]


@pytest.mark.parametrize("labels", [[[1.0], [-0.5]], [[1.5], [0.0]]], ids=["negative", "above one"])
def test_bce_labels_outside_zero_one_raise_value_range_error(labels: list[list[float]]) -> None:
    with pytest.raises(ValueRangeError, match=r"BCELoss\(\): labels must lie in \[0, 1\]") as info:
        BCELoss().forward(np.array([[0.9], [0.2]]), np.array(labels))
    assert isinstance(info.value, ValueError) and isinstance(info.value, FrameworkError)


@pytest.mark.parametrize("loss", [BCELoss(), BCEWithLogitsLoss()], ids=repr)
def test_nan_labels_raise_non_finite_error(loss: Loss) -> None:
    with pytest.raises(NonFiniteError, match=r"labels has 1 NaN and 1 inf entries, the first at \(0, 0\)"):
        loss.forward(np.array([[0.9], [0.2], [0.5]]), np.array([[np.nan], [1.0], [np.inf]]))


@pytest.mark.parametrize("y_pred", [[[1.5], [0.2]], [[-0.1], [0.2]], [[3.2], [-1.4]]])
def test_bce_predictions_outside_zero_one_raise_value_range_error(y_pred: list[list[float]]) -> None:
    with pytest.raises(ValueRangeError, match=r"BCELoss\(\): y_pred must be probabilities in \[0, 1\].*logits"):
        BCELoss().forward(np.array(y_pred), np.array([[1.0], [0.0]]))


def test_bce_nan_prediction_raises_non_finite_error_naming_the_entry() -> None:
    with pytest.raises(NonFiniteError) as info:
        BCELoss().forward(np.array([[0.9], [np.nan], [0.3]]), np.array([[1.0], [0.0], [1.0]]))
    assert isinstance(info.value, ValueError) and isinstance(info.value, FrameworkError)
    assert "BCELoss()" in str(info.value) and "1 NaN and 0 inf" in str(info.value) and "(1, 0)" in str(info.value)


def test_bce_inf_prediction_raises_non_finite_error() -> None:
    with pytest.raises(NonFiniteError, match="0 NaN and 1 inf"):
        BCELoss().forward(np.array([[0.9], [np.inf]]), np.array([[1.0], [0.0]]))


def test_bce_flat_labels_against_column_predictions_raise_shape_error() -> None:
    with pytest.raises(ShapeError) as info:
        BCELoss().forward(np.full((4, 1), 0.5), np.array([1.0, 0.0, 1.0, 1.0]))
    message = str(info.value)
    assert "BCELoss()" in message and "(4, 1)" in message and "(4,)" in message and "reshape(-1, 1)" in message
    assert isinstance(info.value, ValueError)


def test_bce_rejects_integer_predictions() -> None:
    with pytest.raises(DTypeError, match="int64"):
        BCELoss().forward(cast(Array, np.array([[1], [0]])), np.array([[1.0], [0.0]]))


def test_errors_raised_by_a_model_name_the_layer() -> None:
    model = Sequential([Dense(4, 3, seed=0), ReLU(), Dense(3, 1, seed=1), Sigmoid()])
    with pytest.raises(ShapeError, match=r"Dense\(4 -> 3\) expected input of shape \(batch, 4\), got \(5, 3\)"):
        model.forward(np.zeros((5, 3)))


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, np.bool_, np.float16])
def test_a_parameter_refuses_a_value_that_is_not_float(dtype: type[np.generic]) -> None:
    name = np.dtype(dtype).name
    message = rf"Parameter 's' has dtype {name}: a parameter must be float32 or float64 .*pass a float32 or float64 array"
    with pytest.raises(DTypeError, match=message):
        Parameter(np.ones(3, dtype=dtype), name="s")
    p = Parameter(np.ones(3), name="s")
    with pytest.raises(DTypeError, match=message):  # checked when the value is replaced, too
        p.value = np.ones(3, dtype=dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex128])
def test_a_parameter_takes_a_float_or_complex_value(dtype: type[np.generic]) -> None:
    assert Parameter(np.ones(3, dtype=dtype)).grad.dtype == dtype
