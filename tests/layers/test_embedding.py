"""Embedding: rows of W by hand, PyTorch's Embedding forward and autograd with the same weights
(repeated indices add up), the checker (W only, and the report says so) alone and in a model, fit,
evaluate and predict on integer data, saving, and the errors."""

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings

from framework import (
    Adam, BCELoss, Dense, DTypeError, Embedding, Flatten, GlobalAvgPool2D, Input, LayerNorm, Model, Sequential,
    ShapeError, Sigmoid, ValueRangeError, check_gradients, check_layer, load_model,
)
from framework.core.arrays import Array
from tests.helpers.layers import METHODS, SEEDS, Method, assert_passes

NOT_CHECKED = "input holds integer indices (int64), which have no derivative: only the parameters are checked"


def test_forward_takes_rows_and_backward_adds_the_gradients_of_repeated_indices() -> None:
    layer = Embedding(4, 2)
    layer.W.value[...] = [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0], [6.0, 7.0]]
    x = np.array([[1, 3, 1], [0, 1, 2]])
    np.testing.assert_array_equal(layer.forward(x), [[[2, 3], [6, 7], [2, 3]], [[0, 1], [2, 3], [4, 5]]])
    g = np.arange(12.0).reshape(2, 3, 2)
    dx = layer.backward(g)
    # index 1 appears at (0, 0), (0, 2) and (1, 1): [0, 1] + [4, 5] + [8, 9]
    np.testing.assert_array_equal(layer.W.grad, [[6, 7], [12, 15], [10, 11], [2, 3]])
    np.testing.assert_array_equal(dx, np.zeros((2, 3)))
    layer.forward(x)
    layer.backward(g)
    np.testing.assert_array_equal(layer.W.grad[1], [12, 15])  # set, not added to


def test_weights_start_uniform_in_keras_range_and_any_index_shape_works() -> None:
    layer = Embedding(50, 8, seed=0)
    assert np.all(np.abs(layer.W.value) <= 0.05) and layer.W.value.std() > 0.02
    assert layer.forward(np.array([3, 4])).shape == (2, 8)
    assert layer.forward(np.zeros((2, 3, 4), dtype=np.uint8)).shape == (2, 3, 4, 8)
    np.testing.assert_array_equal(Embedding(50, 8, seed=0).W.value, layer.W.value)


@pytest.mark.parametrize("seed", [0, 1])
def test_matches_torch_with_the_same_weights(seed: int) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    layer = Embedding(7, 3, seed=seed)
    x, g = rng.integers(0, 7, (5, 6)), rng.standard_normal((5, 6, 3))
    reference = torch.nn.Embedding(7, 3, dtype=torch.float64)
    with torch.no_grad():
        reference.weight.copy_(torch.tensor(layer.W.value))
    yt = reference(torch.tensor(x))
    yt.backward(torch.tensor(g))
    np.testing.assert_array_equal(layer.forward(x), yt.detach().numpy())
    layer.backward(g)
    np.testing.assert_allclose(layer.W.grad, reference.weight.grad.numpy(), rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("method", METHODS)
@settings(max_examples=8)
@given(seed=SEEDS)
def test_check_layer_checks_W_and_says_the_indices_are_not_checked(method: Method, seed: int) -> None:
    rng = np.random.default_rng(seed)
    report = check_layer(Embedding(6, 3, seed=0), rng.integers(0, 6, (4, 5)), method=method)
    assert_passes(report)
    assert [row.name for row in report.rows] == ["W"]
    assert report.warnings[0] == NOT_CHECKED
    assert NOT_CHECKED in str(report)


def test_check_layer_finds_a_wrong_embedding_backward() -> None:
    class Forgetful(Embedding):
        def backward_params(self, grad: Array) -> None:
            self.W.grad[...] = 0.0
            self.W.grad[self._x.reshape(-1)] = grad.reshape(-1, self.output_dim)  # repeated indices: the last wins

    report = check_layer(Forgetful(4, 2, seed=0), np.array([[1, 1, 2]]))
    assert not report.passed and [row.name for row in report.rows if not row.passed] == ["W"]


def test_a_model_on_token_ids_is_checked_trained_evaluated_and_saved() -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 12, (64, 5))
    y = (x.sum(axis=1, keepdims=True) > 27).astype(np.float64)
    model = Sequential([Embedding(12, 4, seed=0), LayerNorm(), Flatten(), Dense(1, seed=1), Sigmoid()])
    for method in METHODS:
        report = check_gradients(model, BCELoss(), x[:8], y[:8], method=method)
        assert report.passed, str(report)
        assert report.warnings[0] == "x holds integer indices (int64), which have no derivative: only the parameters " \
                                     "are checked"
    model.compile(loss=BCELoss(), optimizer=Adam(lr=0.05), metrics=["accuracy"])
    history = model.fit(x, y, epochs=20, batch_size=16, validation_data=(x[:16], y[:16]), verbose=0, seed=0)
    assert history.history["loss"][-1] < history.history["loss"][0] / 4
    assert model.evaluate(x, y)["accuracy"] > 0.9
    with tempfile.TemporaryDirectory() as folder:
        loaded = load_model(model.save(Path(folder) / "tokens.safetensors"))
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert loaded.get_config() == model.get_config()


def test_a_graph_model_takes_the_indices_too() -> None:
    tokens = Input((2, 3))
    model = Model(tokens, Sigmoid()(Dense(1, seed=1)(GlobalAvgPool2D()(Embedding(5, 4, seed=0)(tokens)))))
    x = np.random.default_rng(1).integers(0, 5, (6, 2, 3))
    y = np.random.default_rng(2).integers(0, 2, (6, 1)).astype(np.float64)
    assert check_gradients(model, BCELoss(), x, y).passed
    assert model.predict(x).shape == (6, 1)


def test_bad_indices_are_named() -> None:
    layer = Embedding(10, 3)
    with pytest.raises(DTypeError, match=r"Embedding\(10 -> 3\) expected integer indices, got float64: they are whole "
                                         r"numbers, so pass x.astype\(np.int64\)"):
        layer.forward(np.array([[1.0, 2.0]]))
    with pytest.raises(DTypeError, match=r"expected integer indices, got float64$"):
        layer.forward(np.array([[1.5, 2.0]]))
    with pytest.raises(DTypeError, match=r"expected integer indices, got bool"):
        layer.forward(np.array([[True, False]]))
    with pytest.raises(ValueRangeError, match=r"Embedding\(10 -> 3\): index 10 at \(1, 0\) is out of range: indices go "
                                              r"from 0 to 9 \(input_dim=10\); 2 of the 4 are outside"):
        layer.forward(np.array([[1, 2], [10, 12]]))
    layer.forward(np.array([[1, 2], [3, 4]]))  # the same shape again: the range is checked at every call
    with pytest.raises(ValueRangeError, match=r"index -1 at \(0, 1\) is out of range"):
        layer.forward(np.array([[1, -1], [3, 4]]))
    with pytest.raises(ShapeError, match=r"expected a non-empty batch of indices"):
        layer.forward(np.zeros((0, 3), dtype=np.int64))
    with pytest.raises(ValueRangeError, match=r"Embedding needs input_dim and output_dim of at least 1, got "
                                              r"Embedding\(0, 3\)"):
        Embedding(0, 3)


def test_fit_refuses_float_token_ids_naming_the_fix() -> None:
    model = Sequential([Embedding(4, 2, seed=0), Flatten(), Dense(1, seed=1), Sigmoid()])
    model.compile(loss=BCELoss(), optimizer=Adam())
    with pytest.raises(DTypeError, match=r"expected integer indices, got float64: they are whole numbers"):
        model.fit(np.array([[1.0, 2.0], [0.0, 3.0]]), np.array([[1.0], [0.0]]), verbose=0)
