"""Identity, Flatten and Reshape: values worked out by hand and gradients by the checker on any rank."""

from typing import TYPE_CHECKING

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framework import Sequential, check_layer, load_model
from framework.core.errors import ConfigError, ShapeError
from framework.layers import Dense, Flatten, Identity, Reshape, Softmax
from tests.helpers.layers import METHODS, SEEDS, Method, assert_passes, normal

if TYPE_CHECKING:
    from pathlib import Path


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


@pytest.mark.parametrize("method", METHODS)
@settings(max_examples=8)
@given(shape=st.lists(st.integers(1, 3), min_size=2, max_size=4), seed=SEEDS)
def test_flatten_and_softmax_pass_check_layer_on_any_rank(method: Method, shape: list[int], seed: int) -> None:
    x = normal(seed, tuple(shape))
    assert_passes(check_layer(Flatten(), x, method=method))
    assert_passes(check_layer(Softmax(axis=1), x, method=method))


def test_reshape_puts_each_entry_where_c_order_says() -> None:
    x = np.arange(24.0).reshape(2, 12)
    y = Reshape((2, 3, 2)).forward(x)
    assert y.shape == (2, 2, 3, 2)
    for n, i, j, k in np.ndindex(y.shape):  # entry (i, j, k) of a sample is its flat entry 6i + 2j + k
        assert y[n, i, j, k] == x[n, 6 * i + 2 * j + k]


def test_reshape_infers_one_size_and_its_backward_undoes_the_forward() -> None:
    layer = Reshape((-1, 4))
    x = normal(0, (3, 2, 6))
    y = layer.forward(x)
    assert y.shape == layer.output_shape(x.shape) == (3, 3, 4)
    np.testing.assert_array_equal(layer.backward(y), x)


@pytest.mark.parametrize("method", METHODS)
@settings(max_examples=8)
@given(sizes=st.lists(st.integers(1, 3), min_size=1, max_size=3), seed=SEEDS, batch=st.integers(1, 3))
def test_reshape_passes_check_layer(method: Method, sizes: list[int], seed: int, batch: int) -> None:
    x = normal(seed, (batch, *sizes))
    assert_passes(check_layer(Reshape((*sizes[::-1], 1)), x, method=method))


def test_reshape_is_saved_and_loaded(tmp_path: "Path") -> None:
    model = Sequential([Reshape((2, 2)), Flatten(), Dense(4, 1, seed=0)])
    x = normal(1, (3, 4))
    loaded = load_model(model.save(tmp_path / "reshape.safetensors"))
    np.testing.assert_array_equal(loaded.forward(x), model.forward(x))
    assert repr(loaded.layers[0]) == "Reshape((2, 2))"


@pytest.mark.parametrize(("target", "shape", "message"), [
    ((8, 8, 2), (3, 64), r"Reshape\(\(8, 8, 2\)\) cannot reshape \(3, 64\) to \(batch, 8, 8, 2\): 64 entries per "
                         r"sample, 128 expected"),
    ((-1, 5), (3, 64), r"64 entries per sample, a multiple of 5 expected"),
    ((4,), (4,), r"expected input of shape \(batch, \.\.\.\) with at least 2 axes, got \(4,\): a single sample needs a "
                 r"batch axis, x\[np.newaxis\]"),
    ((-1, 8, 8, 1), (3, 64), r"Reshape\(\(-1, 8, 8, 1\)\) would give \(batch, 1, 8, 8, 1\): target_shape leaves out the "
                             r"batch axis, as in Keras: Reshape\(\(8, 8, 1\)\) \(or Reshape\(\(1, 8, 8, 1\)\) for that axis"),
])
def test_reshape_refuses_a_size_it_cannot_keep(target: tuple[int, ...], shape: tuple[int, ...], message: str) -> None:
    with pytest.raises(ShapeError, match=message):
        Reshape(target).forward(np.zeros(shape))


@pytest.mark.parametrize("target", [5, (), (0, 4), (-1, -1), (2.5,), "8x8"])
def test_reshape_refuses_a_bad_target_shape(target: object) -> None:
    with pytest.raises(ConfigError, match=r"Reshape: target_shape must be a tuple of sizes >= 1"):
        Reshape(target)  # type: ignore[arg-type]
