"""Pooling over channels-last images: forward against a loop written out window by window (Keras'
"valid" and "same", the average over a window's entries inside the image), backward by both checker
methods, the max's choice by the real part and through `branch()`, saving, and the bad inputs."""

from pathlib import Path

import numpy as np
import pytest

from framework import (
    AvgPool2D, BCELoss, ConfigError, Dense, Flatten, GlobalAvgPool2D, GlobalMaxPool2D, MaxPool2D, ReLU, Sequential,
    ShapeError, Sigmoid, ValueRangeError, check_gradients, check_layer, load_model,
)
from framework.core.arrays import Array
from tests.helpers.layers import METHODS, Method, window_geometry

CASES = [((2, 2), (2, 2), "valid"), ((3, 3), (2, 2), "same"), ((2, 3), (1, 2), "same"), ((3, 2), (1, 1), "valid"),
         ((2, 2), (1, 1), "same"), ((3, 3), (3, 3), "same")]


def naive(x: Array, pool: tuple[int, int], strides: tuple[int, int], padding: str, how: str) -> Array:
    """Each output entry from its window, written out: in "same", out = ceil(in / stride) and the
    window is cut to the image (the total padding split with the extra at the bottom and right)."""
    b, h, w, c = x.shape
    (ph, pw), (sh, sw) = pool, strides
    oh, ow, top, left = window_geometry(h, w, pool, strides, padding)
    out = np.empty((b, oh, ow, c), dtype=x.dtype)
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * sh - top, j * sw - left
            window = x[:, max(r0, 0):min(r0 + ph, h), max(c0, 0):min(c0 + pw, w), :]
            flat = window.reshape(b, -1, c)
            out[:, i, j, :] = flat.max(axis=1) if how == "max" else flat.mean(axis=1)
    return out


@pytest.mark.parametrize("pool, strides, padding", CASES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pools_give_the_window_by_window_values(pool: tuple[int, int], strides: tuple[int, int], padding: str,
                                                seed: int) -> None:
    x = np.random.default_rng(seed).standard_normal((2, 7, 8, 3))
    for layer, how in ((MaxPool2D(pool, strides, padding), "max"), (AvgPool2D(pool, strides, padding), "mean")):  # type: ignore[arg-type]
        expected = naive(x, pool, strides, padding, how)
        assert layer.output_shape(x.shape) == expected.shape
        np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-14, atol=1e-15)


def test_global_pools_and_the_default_strides() -> None:
    x = np.random.default_rng(3).standard_normal((2, 3, 4, 5))
    np.testing.assert_allclose(GlobalAvgPool2D().forward(x), x.mean(axis=(1, 2)), rtol=1e-15)
    np.testing.assert_array_equal(GlobalMaxPool2D().forward(x), x.max(axis=(1, 2)))
    assert MaxPool2D(3).strides == (3, 3) and MaxPool2D(3, strides=1).strides == (1, 1)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("make", [
    lambda: MaxPool2D(2), lambda: MaxPool2D(3, 2, "same"), lambda: MaxPool2D((2, 3), (1, 2), "same"),
    lambda: AvgPool2D(2), lambda: AvgPool2D(3, 2, "same"), lambda: AvgPool2D((2, 3), 1),
    lambda: GlobalAvgPool2D(), lambda: GlobalMaxPool2D()], ids=lambda f: repr(f()))
def test_pools_backward_passes_both_methods(make: object, method: Method) -> None:
    layer = make()  # type: ignore[operator]
    x = np.random.default_rng(4).standard_normal((2, 5, 7, 3))
    assert check_layer(layer, x, method=method).passed


@pytest.mark.parametrize("method", METHODS)
def test_max_pool_after_relu_with_windows_of_tied_zeros_passes(method: Method) -> None:
    rng = np.random.default_rng(5)
    model = Sequential([ReLU(), MaxPool2D(2), Flatten(), Dense(12, 1, seed=0), Sigmoid()])
    x = rng.standard_normal((4, 4, 6, 2)) - 0.8  # most windows hold only zeros after the ReLU
    assert np.mean(np.all(np.maximum(x, 0).reshape(4, 2, 2, 3, 2, 2) == 0, axis=(2, 4))) > 0.3
    assert check_gradients(model, BCELoss(), x, rng.integers(0, 2, (4, 1)).astype(float), method=method).passed


def test_max_pool_chooses_by_the_real_part_and_reports_its_choice() -> None:
    x = np.array([[[[1.0 + 5j], [2.0 - 1j]], [[0.5 + 9j], [-1.0]]]])  # (1, 2, 2, 1)
    layer = MaxPool2D(2)
    assert layer.forward(x)[0, 0, 0, 0] == 2.0 - 1j
    branch = layer.branch()
    assert branch is not None and branch.reshape(-1).tolist() == [False, True, False, False]


def test_pools_are_saved_and_loaded(tmp_path: Path) -> None:
    model = Sequential([MaxPool2D((2, 3), (1, 2), "same"), AvgPool2D(2), GlobalMaxPool2D(), Dense(3, 1, seed=0)])
    x = np.random.default_rng(6).standard_normal((2, 6, 8, 3))
    loaded = load_model(model.save(tmp_path / "pools.safetensors"))
    np.testing.assert_array_equal(loaded.forward(x), model.forward(x))
    assert [repr(layer) for layer in loaded.layers] == [repr(layer) for layer in model.layers]


@pytest.mark.parametrize("make, shape, error, message", [
    (lambda: MaxPool2D(2), (4, 16), ShapeError, r"MaxPool2D\(.*\) expects images \(batch, H, W, C\), channels last, "
                                               r"got shape \(4, 16\): a batch of flat rows\?"),
    (lambda: MaxPool2D(5), (2, 4, 4, 1), ShapeError, r"the 5x5 pool is larger than the 4x4 image \(input shape \(2, 4, 4, 1\)\)"),
    (lambda: GlobalAvgPool2D(), (2, 3, 4), ShapeError, r"GlobalAvgPool2D\(\) expects images \(batch, H, W, C\)"),
])
def test_bad_inputs_name_the_layer_and_the_shapes(make: object, shape: tuple[int, ...], error: type[Exception],
                                                  message: str) -> None:
    with pytest.raises(error, match=message):
        make().forward(np.zeros(shape))  # type: ignore[operator]


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueRangeError, match=r"MaxPool2D: strides must be at least 1, got 0"):
        MaxPool2D(2, strides=0)
    with pytest.raises(ValueRangeError, match=r"AvgPool2D: unknown padding 'full', expected 'valid' or 'same'"):
        AvgPool2D(2, padding="full")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"MaxPool2D: pool_size must be an int or a pair of ints, got 2.5"):
        MaxPool2D(2.5)  # type: ignore[arg-type]
