"""MaxPool2D's choice and gradient against a loop written out window by window, on inputs full of
ties (a ReLU's zeros, small integers): the first entry of a window in row-major order wins, the
gradient of overlapping windows ("same", strides below the pool size) adds up, `branch()` says
which entry each window chose, and a complex input chooses by the real part."""

import numpy as np
import pytest

from framework import MaxPool2D
from framework.core.arrays import Array, Mask
from tests.helpers.layers import window_geometry

CASES = [((2, 2), (2, 2), "valid"), ((3, 3), (2, 2), "same"), ((2, 3), (1, 2), "same"), ((3, 2), (1, 1), "valid"),
         ((2, 2), (1, 1), "same"), ((3, 3), (3, 3), "same"), ((2, 2), (3, 3), "valid"), ((1, 1), (1, 1), "valid")]


def naive(x: Array, grad: Array, pool: tuple[int, int], strides: tuple[int, int],
          padding: str) -> tuple[Array, Mask, Array]:
    """(the output, the choice as `branch()` gives it, dL/dx): each window's first largest entry (by the real
    part, padding never chosen) gets the window's gradient, added over the windows."""
    b, h, w, c = x.shape
    (ph, pw), (sh, sw) = pool, strides
    oh, ow, top, left = window_geometry(h, w, pool, strides, padding)
    choice = np.zeros((b, oh, ow, c, ph * pw), dtype=bool)
    dx = np.zeros(x.shape, dtype=grad.dtype)
    y = np.zeros((b, oh, ow, c), dtype=x.dtype)
    for n in range(b):
        for i in range(oh):
            for j in range(ow):
                for f in range(c):
                    best, where = -np.inf, (-1, -1, -1)
                    for a in range(ph):
                        for k in range(pw):
                            r, s = i * sh - top + a, j * sw - left + k
                            if 0 <= r < h and 0 <= s < w and x[n, r, s, f].real > best:
                                best, where = x[n, r, s, f].real, (a * pw + k, r, s)
                    choice[n, i, j, f, where[0]] = True
                    y[n, i, j, f] = x[n, where[1], where[2], f]
                    dx[n, where[1], where[2], f] += grad[n, i, j, f]
    return y, choice, dx


@pytest.mark.parametrize("pool, strides, padding", CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_ties_go_to_the_first_entry_and_overlapping_gradients_add_up(
        pool: tuple[int, int], strides: tuple[int, int], padding: str, dtype: type[np.floating]) -> None:
    rng = np.random.default_rng(0)
    x = np.maximum(rng.integers(-2, 3, (2, 7, 8, 3)), 0).astype(dtype)  # mostly tied zeros and ones
    layer = MaxPool2D(pool, strides, padding)  # type: ignore[arg-type]
    kept = x.copy()
    y = layer.forward(x)
    grad = rng.standard_normal(y.shape).astype(dtype)
    expected, choice, dx = naive(x, grad, pool, strides, padding)
    np.testing.assert_array_equal(y, expected)
    np.testing.assert_array_equal(layer.branch(), choice)
    got = layer.backward(grad)
    assert got.dtype == dtype and y.dtype == dtype
    np.testing.assert_allclose(got, dx, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(x, kept)  # the input is not written to


@pytest.mark.parametrize("pool, strides, padding", CASES)
def test_a_complex_input_chooses_by_the_real_part(pool: tuple[int, int], strides: tuple[int, int],
                                                  padding: str) -> None:
    rng = np.random.default_rng(1)
    real = rng.integers(0, 3, (2, 6, 7, 2)).astype(np.float64)
    x = real + 1j * rng.standard_normal(real.shape)  # ties in the real part, broken the other way by the imaginary
    layer = MaxPool2D(pool, strides, padding)  # type: ignore[arg-type]
    y = layer.forward(x)
    expected, choice, _ = naive(x, np.zeros(y.shape), pool, strides, padding)
    np.testing.assert_array_equal(y, expected)
    np.testing.assert_array_equal(layer.branch(), choice)
