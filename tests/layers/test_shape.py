"""Identity and Flatten: values worked out by hand and gradients by the checker on any rank."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framework import check_layer
from framework.layers import Flatten, Identity, Softmax
from tests.helpers.layers import METHODS, SEEDS, Method, assert_passes, normal


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
