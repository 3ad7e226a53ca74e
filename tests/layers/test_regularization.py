"""Dropout and BatchNorm: values worked out by hand or with `math`, masks and running statistics,
gradients by the checker (which leaves the buffers and the replay flags as they were), dtypes and
errors."""

import math
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import given, settings

from framework import BCELoss, Dense, Layer, Sequential, ShapeError, Sigmoid, check_gradients, check_layer
from framework.core.arrays import Shape
from framework.core.layer import Module
from framework.core.node import Input
from framework.layers import BatchNorm, Dropout, Tanh
from tests.helpers.layers import MATRICES, METHODS, SEEDS, Floats, H, Method, assert_passes, normal


@contextmanager
def running_statistics_kept(layer: Module) -> Iterator[None]:
    """Put the buffers back as they were, whatever the checker does: in training, each forward moves them."""
    saved = [buffer.value.copy() for _, buffer in layer.named_buffers()]
    try:
        yield
    finally:
        for (_, buffer), value in zip(layer.named_buffers(), saved, strict=True):
            np.copyto(buffer.value, value)


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


@pytest.mark.parametrize("method", METHODS)
def test_a_frozen_batchnorm_in_training_backpropagates_through_its_running_statistics(method: Method) -> None:
    bn, x = BatchNorm(3), normal(0, (6, 3))
    bn.forward(x)
    bn.trainable, bn.training = False, True  # fit trains the model around it: forward uses the running statistics
    before = bn.running_mean.value.copy()
    assert np.allclose(bn.forward(x), (x - before) / np.sqrt(bn.running_var.value + bn.eps))
    assert check_layer(bn, x, method=method).passed  # its backward used the batch statistics' formula
    assert np.array_equal(bn.running_mean.value, before)


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


def test_batchnorm_in_training_refuses_a_batch_of_one_and_eval_accepts_it() -> None:
    layer = BatchNorm(3)
    with pytest.raises(ShapeError, match=r"BatchNorm\(features=3.*\) in training needs a batch of at least 2 samples.*"
                                         r"got input of shape \(1, 3\).*training = False"):
        layer.forward(np.ones((1, 3)))
    layer.training = False
    np.testing.assert_allclose(layer.forward(np.ones((1, 3))), 1 / math.sqrt(1 + 1e-5))


@pytest.mark.parametrize("method", METHODS)
def test_batchnorm_on_images_normalises_each_channel_over_the_batch_and_the_pixels(method: Method) -> None:
    x = normal(7, (3, 4, 5, 2)) * 2 + 1
    bn = BatchNorm(momentum=0.1)
    y = bn.forward(x)  # training: the batch's statistics, per channel (the last axis)
    mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + bn.eps), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(bn.running_var.value, 0.9 + 0.1 * x.var(axis=(0, 1, 2), ddof=1), rtol=1e-13)
    assert bn.gamma.shape == (2,) and bn.output_shape(x.shape) == x.shape
    assert check_layer(BatchNorm(), x, method=method).passed
    bn.training = False
    assert check_layer(bn, x, method=method).passed


def test_batchnorm_refuses_a_three_axis_input() -> None:
    with pytest.raises(ShapeError, match=r"expected input of shape \(batch, features\) or images \(batch, H, W, C\)"):
        BatchNorm().forward(np.zeros((2, 3, 4)))
    with pytest.raises(ShapeError, match=r"expected input of shape images \(batch, H, W, 2\), got \(2, 3, 3, 4\)"):
        BatchNorm(2).forward(np.zeros((2, 3, 3, 4)))
