"""`Chain`: a `Sequential` of the framework's own layers checks each layer's calls until an input has
passed them, then runs the layers' math alone. What that keeps: the same numbers as the guarded
calls, an input of another shape or dtype (or a parameter's value replaced) checked again, the
caller's gradient and the call order checked, floating-point errors naming the layer; and a chain
holding a layer of yours, or Embedding's per-batch index check, still checked at every call."""

import copy
import pickle
from collections.abc import Iterator

import numpy as np
import pytest

from framework import (
    BatchNorm, CallOrderError, Dense, Embedding, Flatten, Layer, NonFiniteError, ReLU, Sequential, ShapeError, Sigmoid,
    Tanh, ValueRangeError,
)
from framework.core.arrays import Array
from framework.core.errors import GradientShapeError

RNG = np.random.default_rng(0)
X = RNG.standard_normal((6, 4))


def mlp() -> Sequential:
    return Sequential([Dense(4, 5, seed=0), ReLU(), Dense(5, 3, seed=1), Tanh(), Dense(3, 1, seed=2), Sigmoid()])


def dense(model: Sequential, i: int) -> Dense:
    layer = model.layers[i]
    assert isinstance(layer, Dense)
    return layer


def logits(model: Sequential, hidden: str) -> Array:
    """The last Dense's output of `mlp()`, by hand, with `hidden` ("relu" or "identity") after the second."""
    d0, d1, d2 = dense(model, 0), dense(model, 2), dense(model, 4)
    z: Array = np.maximum(X @ d0.W.value + d0.b.value, 0) @ d1.W.value + d1.b.value
    return (np.maximum(z, 0) if hidden == "relu" else z) @ d2.W.value + d2.b.value


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The layers whose input the guard checked (`Layer.check_input`), in call order."""
    seen: list[str] = []
    original = Layer.check_input

    def counted(self: Layer, x: Array) -> None:
        seen.append(repr(self))
        original(self, x)

    monkeypatch.setattr(Layer, "check_input", counted)
    yield seen


def test_the_layers_are_checked_until_an_input_passed_then_again_for_another_shape_dtype_or_value(
        checks: list[str]) -> None:
    model = mlp()
    model.forward(X)
    assert len(checks) == 6
    model.forward(X + 1)  # the same shape and dtype: the math alone
    assert len(checks) == 6
    model.forward(X[:3])  # another batch size
    assert len(checks) == 12
    model.forward(X[:3].astype(np.complex128))  # the complex step's probes
    assert len(checks) == 18
    dense(model, 2).W.value = dense(model, 2).W.value.copy()  # a value replaced (a load, a cast)
    model.forward(X[:3].astype(np.complex128))
    assert len(checks) == 24


def test_a_replaced_weight_of_another_shape_is_refused_after_the_input_passed() -> None:
    model = mlp()
    model.forward(X)
    dense(model, 2).W.value = np.zeros((5, 2))
    with pytest.raises(ShapeError, match=r"Dense\(5 -> 3\): W has shape \(5, 2\), but the layer was built as \(5, 3\)"):
        model.forward(X)


def test_the_unguarded_calls_give_the_guarded_ones_numbers_exactly() -> None:
    model, alone = mlp(), mlp()
    model.forward(X)  # checked: from here on the math alone
    g = RNG.standard_normal((6, 1))
    out = model.forward(X)
    dx = model.backward(g, input_grad=True)
    h: Array = X
    for layer in alone.layers:  # each layer's guarded calls
        h = layer.forward(h)
    d: Array = g
    for layer in reversed(alone.layers):
        d = layer.backward(d)
    np.testing.assert_array_equal(out, h)
    np.testing.assert_array_equal(dx, d)
    for p, q in zip(model.parameters(), alone.parameters()):
        np.testing.assert_array_equal(p.grad, q.grad)


def test_the_callers_gradient_and_the_call_order_are_still_checked() -> None:
    model = mlp()
    model.forward(X)
    model.forward(X)
    with pytest.raises(GradientShapeError, match=r"Sigmoid\(\).backward expected a gradient of shape \(6, 1\), got \(6, 2\)"):
        model.backward(np.ones((6, 2)))
    model.backward(np.ones((6, 1)))
    with pytest.raises(CallOrderError, match=r"Sigmoid\(\): backward\(\) called without a forward\(\)"):
        model.backward(np.ones((6, 1)))
    model.forward(X)
    model.layers[3].backward(np.ones((6, 3)))  # a layer inside taken by hand: the model's backward is refused there
    with pytest.raises(CallOrderError, match=r"Tanh\(\): backward\(\) called without a forward\(\)"):
        model.backward(np.ones((6, 1)))


def test_a_floating_point_error_names_the_layer_and_its_backward_is_refused() -> None:
    model = Sequential([Dense(4, 4, seed=0), BatchNorm(), Dense(4, 1, seed=1)])
    model.forward(X)
    with pytest.raises(NonFiniteError, match=r"BatchNorm\(features=4, .*\)\.forward: overflow"):
        model.forward(X * 1e200)
    with pytest.raises(CallOrderError, match=r"BatchNorm\(.*\): backward\(\) called after a forward\(\) that raised"):
        model.layers[1].backward(np.ones((6, 4)))


def test_a_layer_put_in_place_of_another_runs(checks: list[str]) -> None:
    model = mlp()
    model.forward(X)
    model.layers[3] = ReLU()
    out = model.forward(X)
    assert len(checks) == 12  # a new chain: checked again
    np.testing.assert_allclose(out, 1 / (1 + np.exp(-logits(model, "relu"))), rtol=1e-15)


class Double(Layer):
    def forward(self, x: Array) -> Array:
        return 2 * x

    def backward(self, grad: Array) -> Array:
        return 2 * grad


def test_a_chain_holding_a_layer_of_yours_is_checked_at_every_call(checks: list[str]) -> None:
    model = Sequential([Dense(4, 3, seed=0), Double(), Dense(3, 1, seed=1)])
    built = len(checks)  # Double's output shape, found by a forward on a probe batch
    for _ in range(3):
        model.forward(X)
    assert len(checks) - built == 9


def test_embeddings_indices_are_checked_at_every_batch() -> None:
    model = Sequential([Embedding(6, 2, seed=0), Flatten(), Dense(6, 1, seed=1)])
    model.forward(np.array([[0, 1, 5], [2, 3, 4]]))
    with pytest.raises(ValueRangeError, match=r"index 6 at \(1, 2\) is out of range"):
        model.forward(np.array([[0, 1, 5], [2, 3, 6]]))


def test_a_method_replaced_on_a_layer_runs() -> None:
    model = mlp()
    model.layers[3].forward = lambda x: x  # type: ignore[method-assign]
    model.forward(X)
    out = model.forward(X)
    np.testing.assert_allclose(out, 1 / (1 + np.exp(-logits(model, "identity"))), rtol=1e-15)


def test_a_model_that_ran_pickles_and_copies_and_its_copy_checks_its_first_input(checks: list[str]) -> None:
    model = mlp()
    model.forward(X)
    for copied in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
        before = len(checks)
        np.testing.assert_array_equal(copied.forward(X), model.forward(X))
        assert len(checks) - before == 6  # the copy's layers, checked once
