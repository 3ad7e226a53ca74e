"""A forward that gives two outputs at one point is named before any derivative is taken: the
numerical derivative of a function that changes between calls means nothing."""

import re

import numpy as np
import pytest

from framework import (
    Add, BCELoss, Dense, Dropout, Input, Layer, Model, NondeterministicError, ReLU, Sequential, Sigmoid, check_gradients,
    check_layer,
)
from framework.core.arrays import Array


class Noisy(Layer):
    """x + noise, a fresh draw every call: a layer that ignores `replay`."""

    def __init__(self) -> None:
        super().__init__()
        self.rng = np.random.default_rng(0)

    def forward(self, x: Array) -> Array:
        self.noise = self.rng.standard_normal(x.shape) * 0.1
        return x + self.noise

    def backward(self, grad: Array) -> Array:
        return grad


class Counting(Layer):
    """x times the number of calls so far: state that changes between calls."""

    calls = 0

    def forward(self, x: Array) -> Array:
        self.calls += 1
        return x * (1 + 1e-3 * self.calls)

    def backward(self, grad: Array) -> Array:
        return grad * (1 + 1e-3 * self.calls)


def data() -> tuple[Array, Array]:
    rng = np.random.default_rng(1)
    return rng.standard_normal((6, 3)), rng.integers(0, 2, (6, 1)).astype(float)


@pytest.mark.parametrize("method", ["complex", "central"])
def test_a_layer_that_draws_without_replay_is_named_in_a_model(method: str) -> None:
    x, y = data()
    model = Sequential([Dense(3, 4, seed=0), ReLU(), Noisy(), Dense(4, 1, seed=1), Sigmoid()])
    with pytest.raises(NondeterministicError, match=r"check_gradients: layer 2 Noisy\(\) gave two different outputs "
                                                    r"at the same point \(.* at \(\d, \d\), .* apart\): it draws random numbers"):
        check_gradients(model, BCELoss(), x, y, method=method)  # type: ignore[arg-type]


def test_the_two_outputs_are_given_to_every_digit() -> None:
    """Noise of 1e-12 changes an output in its twelfth digit: the message shows two different numbers."""
    class Jitter(Noisy):
        def forward(self, x: Array) -> Array:
            return x + self.rng.standard_normal(x.shape) * 1e-12

    x, _ = data()
    with pytest.raises(NondeterministicError) as raised:
        check_layer(Jitter(), x)
    found = re.search(r"\((\S+) and then (\S+) at", str(raised.value))
    assert found is not None, raised.value
    first, again = found.groups()
    assert float(first) != float(again) and abs(float(first) - float(again)) < 1e-10
    assert re.search(r"\d\.\de-1[12] apart", str(raised.value))


def test_state_that_changes_between_calls_is_named_in_a_graph_and_in_check_layer() -> None:
    x, y = data()
    inp = Input(3)
    h = Dense(3, 3, seed=0)(inp)
    model = Model(inp, Sigmoid()(Dense(3, 1, seed=1)(Add()([Counting()(h), h]))))
    with pytest.raises(NondeterministicError, match=r"layer \S+ Counting\(\) gave two different outputs"):
        check_gradients(model, BCELoss(), x, y)
    with pytest.raises(NondeterministicError, match=r"check_layer\(Counting\(\)\): Counting\(\) gave two different"):
        check_layer(Counting(), x)


def test_dropout_replays_its_draw_and_passes() -> None:
    x, y = data()
    model = Sequential([Dense(3, 8, seed=0), ReLU(), Dropout(0.5, seed=0), Dense(8, 1, seed=1), Sigmoid()])
    assert check_gradients(model, BCELoss(), x, y).passed
    assert check_layer(Dropout(0.5, seed=0), x).passed

