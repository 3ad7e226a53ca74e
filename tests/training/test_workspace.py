"""Arrays reused within a training step (`Layer.reuse_workspace`): fit trains to the same weights,
bit for bit, as with new arrays every step; outside a step every forward and backward returns new
arrays; the model's output is never one; fit drops them when it ends."""

from typing import Any

import numpy as np
import pytest

from framework import (
    SGD, BCELoss, Conv2D, Dense, Flatten, GradientCheck, MaxPool2D, MSELoss, ReLU, Sequential, Sigmoid,
    check_gradients,
)
import framework.core.layer
from framework.core.layer import Layer


@pytest.fixture(autouse=True)
def reuse_every_array(monkeypatch: pytest.MonkeyPatch) -> None:
    """Workspaces for arrays of any size: these tests' small ones too."""
    monkeypatch.setattr(framework.core.layer, "_REUSED_FROM", 0)


def convnet() -> Sequential:
    """9x9 images: a max-pool that leaves a row and a column out, a strided "same" convolution, and
    overlapping pool windows, whose gradients add up."""
    return Sequential([Conv2D(4, 3, padding="same", seed=0), ReLU(), MaxPool2D(2), Conv2D(3, 3, strides=2, padding="same", seed=1),
                       ReLU(), MaxPool2D(2, strides=1), Flatten(), Dense(3, 1, seed=2), Sigmoid()])


def data() -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    rng = np.random.default_rng(0)
    return rng.standard_normal((37, 9, 9, 2)), rng.integers(0, 2, (37, 1)).astype(np.float64)


def trained(reuse: bool, monkeypatch: pytest.MonkeyPatch) -> Sequential:
    model = convnet()
    if not reuse:
        monkeypatch.setattr(model, "workspace_layers", lambda: [])
    model.compile(loss=BCELoss(), optimizer=SGD(lr=0.1, momentum=0.9))
    x, y = data()
    model.fit(x, y, epochs=3, batch_size=8, verbose=0, seed=0)  # a last batch of 5: arrays of two shapes
    return model


def test_fit_trains_to_the_same_weights_with_reused_arrays(monkeypatch: pytest.MonkeyPatch) -> None:
    reused, fresh = trained(True, monkeypatch), trained(False, monkeypatch)
    for a, b in zip(reused.get_weights(), fresh.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_fit_drops_the_arrays_and_leaves_no_layer_reusing(monkeypatch: pytest.MonkeyPatch) -> None:
    model = trained(True, monkeypatch)
    for layer in model.layers:
        assert isinstance(layer, Layer)
        assert not layer.reuse_workspace
        assert layer._workspace is None or set(layer._workspace) <= {"patches", "padded"}  # Conv2D's own


def test_the_workspace_layers_are_the_models_own_but_the_last() -> None:
    inner = Sequential([Dense(3, 3, seed=1), ReLU()])
    model = Sequential([Dense(3, 3, seed=0), ReLU(), inner, Dense(3, 1, seed=2), Sigmoid()])
    assert model.workspace_layers() == [model.layers[0], model.layers[1], model.layers[3]]


def test_outside_a_training_step_every_call_returns_new_arrays() -> None:
    model, (x, _) = convnet(), data()
    for layer in model.layers[:6]:
        assert isinstance(layer, Layer)
        first = layer.forward(x)
        second = layer.forward(x)
        assert not np.shares_memory(first, second), repr(layer)
        g1, g2 = layer.backward(np.ones_like(second)), None
        layer.forward(x)
        g2 = layer.backward(np.ones_like(second))
        assert not np.shares_memory(g1, g2), repr(layer)
        x = first


def test_a_gradient_check_during_fit_sees_new_arrays() -> None:
    model, (x, y) = convnet(), data()
    check = GradientCheck(x[:6], y[:6])
    model.compile(loss=BCELoss(), optimizer=SGD(lr=0.1))
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, seed=0, callbacks=[check])
    assert [(epoch, report.passed) for epoch, report in check.reports] == [(0, True), (1, True)]
    assert check_gradients(model, BCELoss(), x[:6], y[:6]).passed


class Recorder(Layer):
    """A layer of a user's that keeps every input it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[np.ndarray[Any, Any]] = []

    def forward(self, x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        self.seen.append(x)
        return x * 1.0

    def backward(self, grad: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        return grad


def test_a_model_holding_a_layer_of_yours_keeps_new_arrays() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((64, 4)), rng.integers(0, 2, (64, 1)).astype(np.float64)
    recorder = Recorder()
    model = Sequential([Dense(4, 5, seed=0), ReLU(), recorder, Dense(5, 1, seed=1), Sigmoid()])
    assert model.workspace_layers() == []
    first = np.maximum(x[:16] @ model.get_weights()[0] + model.get_weights()[1], 0)  # the first batch's ReLU output
    model.compile(loss=BCELoss(), optimizer=SGD(lr=0.1))
    model.fit(x, y, epochs=1, batch_size=16, verbose=0, shuffle=False)
    for k, seen in enumerate(recorder.seen):  # each batch's own ReLU output, not one array overwritten
        assert not any(np.shares_memory(seen, other) for other in recorder.seen[k + 1:])
    np.testing.assert_array_equal(recorder.seen[0], first)


def test_a_stream_keeps_its_outputs_when_the_last_layer_passes_a_workspace_on() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((64, 4)), rng.standard_normal((64, 3))

    def batches() -> Any:
        while True:
            for start in range(0, 64, 16):
                yield x[start:start + 16], y[start:start + 16]

    model = Sequential([Dense(4, 3, seed=0), ReLU(), Flatten()])
    model.compile(loss=MSELoss(), optimizer=SGD(lr=1e-300), metrics=["mae"])  # a step too small to move them
    streamed = model.fit(batches(), steps_per_epoch=4, epochs=1, verbose=0).history["mae"]
    assert streamed == [pytest.approx(model.evaluate(x, y)["mae"], rel=1e-12)]
