"""Tanh, LeakyReLU, ELU, Softmax, Identity, Flatten, Dropout, BatchNorm, Add, Multiply, Concatenate:
values worked out by hand or with `math`, gradients by the checker (and, for merge layers, by a
complex step written here), numerical safety, dtypes, call order, errors and configs."""

import math
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Literal

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framework import (
    BCELoss, CallOrderError, ConfigError, Dense, DTypeError, GradCheckReport, Layer, Sequential, ShapeError, Sigmoid,
    ValueRangeError, check_gradients, check_layer,
)
from framework.core.arrays import Array, Shape
from framework.core.node import Input
from framework.core.layer import Merge, Module
from framework.layers import (
    ELU, Add, BatchNorm, Concatenate, Dropout, Flatten, Identity, LeakyReLU, Multiply, Softmax, Tanh,
)
from framework.core.registry import layer_class

H = 1e-20
"""Complex step: Im f(x + iH) / H is the derivative of f, with no subtraction error."""
Method = Literal["complex", "central"]
METHODS: tuple[Method, ...] = ("complex", "central")
Floats = npt.NDArray[np.float64]


def assert_passes(report: GradCheckReport) -> None:
    assert report.passed, str(report)


def normal(seed: int, shape: Shape) -> Floats:
    return np.random.default_rng(seed).standard_normal(shape)


@contextmanager
def running_statistics_kept(layer: Module) -> Iterator[None]:
    """Put the buffers back as they were, whatever the checker does: in training, each forward moves them."""
    saved = [buffer.value.copy() for _, buffer in layer.named_buffers()]
    try:
        yield
    finally:
        for (_, buffer), value in zip(layer.named_buffers(), saved, strict=True):
            np.copyto(buffer.value, value)


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


def test_identity_passes_input_and_gradient_through() -> None:
    x, g = np.array([[1.0, -2.0]]), np.array([[3.0, 4.0]])
    layer = Identity()
    assert layer.forward(x) is x
    assert layer.backward(g) is g


def test_flatten_forward_and_backward_reshape_in_c_order() -> None:
    x = np.arange(8.0).reshape(2, 2, 2)
    layer = Flatten()
    np.testing.assert_array_equal(layer.forward(x), [[0, 1, 2, 3], [4, 5, 6, 7]])
    assert layer.output_shape((5, 3, 4, 2)) == (5, 24)
    np.testing.assert_array_equal(layer.backward(np.array([[0.0, 1, 2, 3], [4, 5, 6, 7]])), x)


def test_dropout_in_training_zeroes_a_rate_of_units_and_scales_the_rest() -> None:
    layer = Dropout(0.25, seed=0)
    y = layer.forward(np.ones((400, 50)))
    assert set(np.unique(y).tolist()) == {0.0, 4 / 3}
    assert abs(float(np.mean(y == 0)) - 0.25) < 0.015
    dx = layer.backward(np.full((400, 50), 3.0))
    np.testing.assert_array_equal(dx, np.where(y == 0, 0.0, 4.0))


def test_dropout_same_seed_same_masks_and_replay_reuses_the_last_one() -> None:
    x = np.ones((4, 5))
    first, second = Dropout(0.5, seed=1), Dropout(0.5, seed=1)
    a = first.forward(x)
    np.testing.assert_array_equal(a, second.forward(x))
    assert not np.array_equal(a, first.forward(x))  # a new mask each forward
    first.replay = True
    b = first.forward(x)
    np.testing.assert_array_equal(first.forward(x + 1.0), (x + 1.0) * (b != 0) * 2.0)
    smaller = first.forward(np.ones((2, 5)))  # no mask of this shape yet: one is drawn, then replayed
    np.testing.assert_array_equal(first.forward(np.ones((2, 5))), smaller)


def test_dropout_fresh_layer_with_replay_draws_its_first_mask() -> None:
    layer = Dropout(0.5, seed=2)
    layer.replay = True
    y = layer.forward(np.ones((3, 4)))
    np.testing.assert_array_equal(layer.forward(np.ones((3, 4))), y)


@pytest.mark.parametrize("training, rate", [(False, 0.9), (True, 0.0)], ids=["eval", "rate 0"])
def test_dropout_is_the_identity_in_eval_mode_and_at_rate_zero(training: bool, rate: float) -> None:
    layer = Dropout(rate, seed=0)
    layer.training = training
    x = normal(0, (3, 4))
    np.testing.assert_array_equal(layer.forward(x), x)
    np.testing.assert_array_equal(layer.backward(np.ones((3, 4))), np.ones((3, 4)))


def hand_batchnorm() -> BatchNorm:
    """BatchNorm(2) with gamma = [2, 3] and beta = [0.5, -1]."""
    layer = BatchNorm(2)
    layer.gamma.value[...] = [2.0, 3.0]
    layer.beta.value[...] = [0.5, -1.0]
    return layer


X_BN: Floats = np.array([[1.0, 2.0], [3.0, 6.0]])
"""Batch means [2, 4], biased variances [1, 4], unbiased [2, 8]."""


def test_batchnorm_training_normalises_with_batch_statistics_and_updates_the_running_ones() -> None:
    layer = hand_batchnorm()
    y = layer.forward(X_BN)
    eps = 1e-5
    a, b = 1 / math.sqrt(1 + eps), 2 / math.sqrt(4 + eps)  # (x - mean) / sqrt(var + eps) for the second row
    np.testing.assert_allclose(y, [[-2 * a + 0.5, -3 * b - 1], [2 * a + 0.5, 3 * b - 1]], rtol=1e-15)
    # running = 0.9 · running + 0.1 · batch, from mean 0 and variance 1
    np.testing.assert_allclose(layer.running_mean.value, [0.2, 0.4], rtol=1e-15)
    np.testing.assert_allclose(layer.running_var.value, [0.9 + 0.2, 0.9 + 0.8], rtol=1e-15)


def test_batchnorm_eval_uses_the_running_statistics_and_leaves_them() -> None:
    layer = hand_batchnorm()
    layer.running_mean.value[...] = [1.0, -1.0]
    layer.running_var.value[...] = [4.0, 0.25]
    layer.training = False
    y = layer.forward(X_BN)
    s0, s1 = math.sqrt(4 + 1e-5), math.sqrt(0.25 + 1e-5)
    np.testing.assert_allclose(y, [[0.5, 3 * 3 / s1 - 1], [2 * 2 / s0 + 0.5, 3 * 7 / s1 - 1]], rtol=1e-15)
    np.testing.assert_array_equal(layer.running_mean.value, [1.0, -1.0])
    np.testing.assert_array_equal(layer.running_var.value, [4.0, 0.25])
    dx = layer.backward(np.ones((2, 2)))
    np.testing.assert_allclose(dx, [[2 / s0, 3 / s1]] * 2, rtol=1e-15)  # dL/dx = g gamma / sqrt(var + eps)
    np.testing.assert_array_equal(layer.beta.grad, [2.0, 2.0])


def test_batchnorm_training_gradient_is_orthogonal_to_shifts_and_scalings_of_a_feature() -> None:
    # y does not change when a feature is shifted, nor (eps aside) scaled: dL/dx sums to 0, and to 0 against x - mean
    layer = BatchNorm(2, eps=1e-12)
    x = normal(1, (6, 2))
    layer.forward(x)
    dx = layer.backward(normal(2, (6, 2)))
    np.testing.assert_allclose(dx.sum(axis=0), 0.0, atol=1e-14)
    np.testing.assert_allclose(np.sum(dx * (x - x.mean(axis=0)), axis=0), 0.0, atol=1e-10)


def test_batchnorm_without_features_builds_on_the_first_input_keeping_its_parameters() -> None:
    layer = BatchNorm()
    gamma, running_var = layer.gamma, layer.running_var
    assert layer.gamma.shape == (0,) and layer.get_config()["features"] is None
    layer.forward(normal(0, (4, 3)))
    assert layer.gamma is gamma and layer.running_var is running_var
    assert layer.gamma.shape == layer.beta.shape == layer.gamma.grad.shape == (3,)
    np.testing.assert_array_equal(layer.gamma.value, np.ones(3))
    np.testing.assert_allclose(layer.running_var.value, 0.9 + 0.1 * normal(0, (4, 3)).var(axis=0, ddof=1))
    assert layer.get_config()["features"] == 3 and repr(layer) == "BatchNorm(features=3, momentum=0.1, eps=1e-05)"


def test_batchnorm_is_built_by_a_graph_and_then_checks_the_feature_count() -> None:
    layer = BatchNorm()
    assert layer(Input(5)).shape == (None, 5)
    assert layer.beta.shape == (5,)
    with pytest.raises(ShapeError, match=r"BatchNorm\(features=5.*\) expected input of shape \(batch, 5\), got \(4, 6"):
        layer.forward(np.ones((4, 6)))


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


# --- gradients: check_layer on random shapes ---------------------------------------------------------

SEEDS = st.integers(0, 2**32 - 1)
MATRICES = st.tuples(st.integers(2, 4), st.integers(1, 4))
ELEMENT_WISE: dict[str, Callable[[], Layer]] = {
    "Tanh": Tanh, "LeakyReLU": lambda: LeakyReLU(alpha=0.2), "ELU": lambda: ELU(alpha=0.7),
    "Softmax": Softmax, "Softmax(axis=0)": lambda: Softmax(axis=0), "Identity": Identity,
}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", ELEMENT_WISE)
@settings(max_examples=8)
@given(shape=MATRICES, seed=SEEDS)
def test_activations_pass_check_layer(name: str, method: Method, shape: Shape, seed: int) -> None:
    assert_passes(check_layer(ELEMENT_WISE[name](), 2 * normal(seed, shape), method=method))


@pytest.mark.parametrize("method", METHODS)
@settings(max_examples=8)
@given(shape=st.lists(st.integers(1, 3), min_size=2, max_size=4), seed=SEEDS)
def test_flatten_and_softmax_pass_check_layer_on_any_rank(method: Method, shape: list[int], seed: int) -> None:
    x = normal(seed, tuple(shape))
    assert_passes(check_layer(Flatten(), x, method=method))
    assert_passes(check_layer(Softmax(axis=1), x, method=method))


@pytest.mark.parametrize("method", METHODS)
@settings(max_examples=8)
@given(shape=MATRICES, seed=SEEDS)
def test_batchnorm_in_training_passes_check_layer(method: Method, shape: Shape, seed: int) -> None:
    layer = BatchNorm(shape[1])
    layer.gamma.value[...], layer.beta.value[...] = normal(seed + 1, (2, shape[1]))
    layer.training = True
    with running_statistics_kept(layer):
        assert_passes(check_layer(layer, normal(seed, shape), method=method))


@pytest.mark.parametrize("method", METHODS)
@settings(max_examples=8)
@given(shape=MATRICES, seed=SEEDS)
def test_batchnorm_in_eval_passes_check_layer_and_leaves_its_buffers(method: Method, shape: Shape, seed: int) -> None:
    layer = BatchNorm(shape[1])
    layer.gamma.value[...], layer.beta.value[...], layer.running_mean.value[...] = normal(seed + 1, (3, shape[1]))
    layer.running_var.value[...] = np.exp(normal(seed + 2, (shape[1],)))
    saved = [buffer.value.copy() for _, buffer in layer.named_buffers()]
    layer.training = False
    assert_passes(check_layer(layer, normal(seed, shape), method=method))
    for (_, buffer), value in zip(layer.named_buffers(), saved, strict=True):
        np.testing.assert_array_equal(buffer.value, value)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("training", [True, False], ids=["training with replay", "eval"])
@settings(max_examples=8)
@given(shape=MATRICES, seed=SEEDS)
def test_dropout_passes_check_layer(training: bool, method: Method, shape: Shape, seed: int) -> None:
    layer = Dropout(0.4, seed=seed)
    layer.training = training
    x = normal(seed, shape)
    layer.forward(x)
    layer.replay = True
    assert_passes(check_layer(layer, x, method=method))


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


def assert_fresh_running_statistics(layer: Layer) -> None:
    assert isinstance(layer, BatchNorm)
    np.testing.assert_array_equal(layer.running_mean.value, 0.0)
    np.testing.assert_array_equal(layer.running_var.value, 1.0)


@pytest.mark.parametrize("method", METHODS)
def test_check_layer_leaves_batchnorm_buffers_as_they_were(method: Method) -> None:
    layer = BatchNorm(3)
    assert_passes(check_layer(layer, normal(0, (5, 3)), method=method))
    assert_fresh_running_statistics(layer)


@pytest.mark.parametrize("method", METHODS)
def test_check_gradients_passes_a_training_model_with_batchnorm_and_dropout_leaving_them(method: Method) -> None:
    model = Sequential([Dense(3, 4, seed=0), BatchNorm(), Tanh(), Dropout(0.3, seed=0), Dense(4, 1, seed=1), Sigmoid()])
    assert [name for name, _ in model.named_parameters()][2:4] == ["1.gamma", "1.beta"]
    y = np.array([[0.0], [1.0], [1.0], [0.0], [1.0]])
    assert_passes(check_gradients(model, BCELoss(), normal(0, (5, 3)), y, method=method))
    assert_fresh_running_statistics(model.layers[1])
    assert not model.layers[3].replay


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


SINGLE_INPUT: dict[str, Callable[[], Layer]] = {
    **ELEMENT_WISE, "Flatten": Flatten, "Dropout": lambda: Dropout(0.5, seed=0),
    "BatchNorm": lambda: BatchNorm(3, dtype=np.float32),
}


@pytest.mark.parametrize("name", SINGLE_INPUT)
def test_float32_kept_through_each_layer(name: str) -> None:
    layer = SINGLE_INPUT[name]()
    x = normal(0, (4, 3)).astype(np.float32)
    y = layer.forward(x)
    assert y.dtype == np.float32
    assert layer.backward(np.ones_like(y)).dtype == np.float32
    assert all(p.value.dtype == p.grad.dtype == np.float32 for p in layer.parameters())
    assert all(buffer.value.dtype == np.float32 for _, buffer in layer.named_buffers())


@pytest.mark.parametrize("layer", [Add(), Multiply(), Concatenate()], ids=repr)
def test_float32_kept_through_merge_layers(layer: Merge) -> None:
    xs = [np.ones((2, 3), dtype=np.float32), np.full((2, 3), 2.0, dtype=np.float32)]
    y = layer.forward(xs)
    assert y.dtype == np.float32
    assert all(grad.dtype == np.float32 for grad in layer.backward(np.ones_like(y)))


def test_batchnorm_complex_input_leaves_the_running_statistics_real_and_as_for_the_real_point() -> None:
    x = normal(0, (5, 3))
    real, probed = BatchNorm(3), BatchNorm(3)
    y = real.forward(x)
    x_complex = x.astype(np.complex128)
    x_complex[2, 1] += 1j * H
    y_complex = probed.forward(x_complex)
    np.testing.assert_allclose(y_complex.real, y, rtol=1e-14)
    for (_, a), (_, b) in zip(real.named_buffers(), probed.named_buffers(), strict=True):
        assert b.value.dtype == np.float64
        np.testing.assert_array_equal(a.value, b.value)


# --- call order -------------------------------------------------------------------------------------

CALLS: dict[str, tuple[Callable[[], Module], list[Floats]]] = {
    **{name: (make, [normal(0, (3, 2))]) for name, make in SINGLE_INPUT.items() if name != "BatchNorm"},
    "BatchNorm": (lambda: BatchNorm(2), [normal(0, (3, 2))]),
    "BatchNorm eval": (lambda: _eval(BatchNorm(2)), [normal(0, (3, 2))]),
    "Dropout eval": (lambda: _eval(Dropout()), [normal(0, (3, 2))]),
    "Add": (Add, [normal(0, (3, 2)), normal(1, (3, 2))]),
    "Multiply": (Multiply, [normal(0, (3, 2)), normal(1, (3, 2))]),
    "Concatenate": (Concatenate, [normal(0, (3, 2)), normal(1, (3, 1))]),
}


def _eval(layer: Module) -> Module:
    layer.training = False
    return layer


def run(layer: Module, xs: list[Floats]) -> Array:
    if isinstance(layer, Merge):
        return layer.forward(xs)
    assert isinstance(layer, Layer)
    return layer.forward(xs[0])


def backward(layer: Module, grad: Array) -> None:
    assert isinstance(layer, Merge | Layer)
    layer.backward(grad)


@pytest.mark.parametrize("name", CALLS)
def test_backward_needs_its_own_forward(name: str) -> None:
    make, xs = CALLS[name]
    layer = make()
    with pytest.raises(CallOrderError, match="without a forward"):
        backward(layer, np.ones((3, 2)))
    y = run(layer, xs)
    backward(layer, np.ones_like(y))
    with pytest.raises(CallOrderError, match=r"each backward needs its own forward") as info:
        backward(layer, np.ones_like(y))
    assert repr(layer) in str(info.value)


@pytest.mark.parametrize("name", CALLS)
def test_backward_with_a_wrong_gradient_shape_raises(name: str) -> None:
    make, xs = CALLS[name]
    layer = make()
    run(layer, xs)
    with pytest.raises(ShapeError, match=r"backward expected a gradient of shape"):
        backward(layer, np.ones((4, 7)))


# --- errors ----------------------------------------------------------------------------------------


def test_shape_errors_name_the_layer_and_the_shapes() -> None:
    with pytest.raises(ShapeError, match=r"Flatten\(\) expected input of shape \(batch, \.\.\.\) .*got \(6,\)"):
        Flatten().forward(np.ones(6))
    with pytest.raises(ShapeError, match=r"Softmax\(axis=2\) expected an input with an axis 2, got shape \(4, 3\)"):
        Softmax(axis=2).forward(np.ones((4, 3)))
    with pytest.raises(ShapeError, match=r"BatchNorm\(features=3.*\) expected input of shape \(batch, 3\), got \(4, 2"):
        BatchNorm(3).forward(np.ones((4, 2)))
    with pytest.raises(ShapeError, match=r"BatchNorm\(features=None.*\) expected input of shape \(batch, features\)"):
        BatchNorm().forward(np.ones((4, 2, 2)))


def test_batchnorm_in_training_refuses_a_batch_of_one_and_eval_accepts_it() -> None:
    layer = BatchNorm(3)
    with pytest.raises(ShapeError, match=r"BatchNorm\(features=3.*\) in training needs a batch of at least 2 samples.*"
                                         r"got input of shape \(1, 3\).*training = False"):
        layer.forward(np.ones((1, 3)))
    layer.training = False
    np.testing.assert_allclose(layer.forward(np.ones((1, 3))), 1 / math.sqrt(1 + 1e-5))


def test_dtype_errors_name_the_layer_and_the_dtypes() -> None:
    with pytest.raises(DTypeError, match=r"BatchNorm\(features=2.*\) has float64 parameters but got a float32 input"):
        BatchNorm(2).forward(np.ones((3, 2), dtype=np.float32))
    with pytest.raises(DTypeError, match=r"BatchNorm\(features=2.*\) expected a float input, got int64"):
        BatchNorm(2).forward(np.ones((3, 2), dtype=np.int64))
    with pytest.raises(DTypeError, match=r"Dropout\(rate=0.5\) expected a float input, got int64"):
        Dropout().forward(np.ones((3, 2), dtype=np.int64))
    with pytest.raises(DTypeError, match=r"Add\(\) expected float inputs of one dtype, got float32, float64"):
        Add().forward([np.ones((3, 2), dtype=np.float32), np.ones((3, 2))])


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


def test_constructors_refuse_out_of_range_arguments() -> None:
    cases: list[tuple[Callable[[], Module], str]] = [
        (lambda: Dropout(1.0), r"Dropout: rate=1.0 is out of range, expected 0 <= rate < 1"),
        (lambda: Dropout(-0.1), r"Dropout: rate=-0.1"),
        (lambda: LeakyReLU(alpha=-1.0), r"LeakyReLU: alpha=-1.0 is out of range"),
        (lambda: ELU(alpha=math.inf), r"ELU: alpha=inf is out of range"),
        (lambda: BatchNorm(2, momentum=1.5), r"BatchNorm: momentum=1.5 is out of range"),
        (lambda: BatchNorm(2, eps=0.0), r"BatchNorm: eps=0.0 is out of range"),
        (lambda: Concatenate(axis=0), r"Concatenate: axis=0 would join the samples of the batch"),
    ]
    for make, message in cases:
        with pytest.raises(ValueRangeError, match=message):
            make()
    with pytest.raises(ShapeError, match=r"features >= 1, got \(1, 0\)"):
        BatchNorm(0)
    with pytest.raises(DTypeError, match="float32 or float64"):
        BatchNorm(2, dtype=np.int32)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Softmax(axis=1.0), "Softmax: axis must be a whole number, got 1.0"),  # type: ignore[arg-type]
        (lambda: Concatenate(axis=True), "Concatenate: axis must be a whole number, got True"),
        (lambda: Dropout(0.5, seed=0.5), "Dropout: seed must be a whole number, got 0.5"),  # type: ignore[arg-type]
        (lambda: BatchNorm(2.0), "BatchNorm: features must be a whole number, got 2.0"),  # type: ignore[arg-type]
        (lambda: Dense(3, 2, seed="0"), "Dense: seed must be a whole number, got '0'"),  # type: ignore[arg-type]
    ],
    ids=["softmax-axis", "concatenate-axis", "dropout-seed", "batchnorm-features", "dense-seed"],
)
def test_sizes_axes_and_seeds_must_be_whole_numbers_numpy_ones_included(make: Callable[[], Module], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        make()


def test_numpy_integers_are_taken_as_ints() -> None:
    layers = [Softmax(axis=np.int64(0)), Concatenate(axis=np.int32(1)), Dropout(np.float64(0.5), seed=np.uint8(3)),
              BatchNorm(np.int64(2), momentum=np.float32(0.5)), Dense(np.int16(3), np.int64(2), seed=np.int64(0))]
    assert [layer.get_config() for layer in layers] == [
        {"axis": 0}, {"axis": 1}, {"rate": 0.5, "seed": 3},
        {"features": 2, "momentum": 0.5, "eps": 1e-5, "dtype": "float64"},
        {"in_features": 3, "out_features": 2, "init": "he", "dtype": "float64"},
    ]
    assert all(type(value) in (int, float, str) for layer in layers for value in layer.get_config().values())
    assert Input(np.int64(3)).shape == (None, 3) and Input([np.int32(2), 4]).shape == (None, 2, 4)
    for size in (0, [2, 0], ()):
        with pytest.raises(ShapeError, match=re.escape(f"Input needs positive feature sizes, got {size!r}")):
            Input(size)
    not_whole: list[tuple[object, str]] = [(3.0, "3.0"), (np.float64(3.0), "np.float64(3.0)"), (np.array(3), "array(3)"),
                                           ("3", "'3'"), ([2, 3.5], "[2, 3.5]")]
    for bad, shown in not_whole:
        with pytest.raises(ConfigError, match=re.escape(f"Input: feature sizes must be whole numbers, got {shown}")):
            Input(bad)  # type: ignore[arg-type]


# --- configs, reprs, registry ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "layer, text",
    [
        (Tanh(), "Tanh()"), (LeakyReLU(), "LeakyReLU(alpha=0.01)"), (ELU(), "ELU(alpha=1.0)"),
        (Softmax(), "Softmax(axis=-1)"), (Identity(), "Identity()"), (Flatten(), "Flatten()"),
        (Dropout(), "Dropout(rate=0.5)"), (Dropout(0.2, seed=3), "Dropout(rate=0.2, seed=3)"),
        (BatchNorm(4), "BatchNorm(features=4, momentum=0.1, eps=1e-05)"),
        (BatchNorm(momentum=0.2, eps=1e-3, dtype=np.float32), "BatchNorm(features=None, momentum=0.2, eps=0.001)"),
        (Add(), "Add()"), (Multiply(), "Multiply()"), (Concatenate(axis=2), "Concatenate(axis=2)"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_repr_shows_the_configuration_and_get_config_rebuilds_the_layer(layer: Module, text: str) -> None:
    assert repr(layer) == text
    config = layer.get_config()
    make: Callable[..., Module] = layer_class(type(layer).__name__)
    rebuilt = make(**config)
    assert type(rebuilt) is type(layer) and rebuilt.get_config() == config and repr(rebuilt) == text
