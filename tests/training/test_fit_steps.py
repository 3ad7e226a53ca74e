"""The parts `fit` is made of: `FitLoop.train_step` against a step written out by hand, the order of
`CallbackList`'s hooks, the checked batches, and what `Container` now owns for `Sequential` and the
graph `Model` alike: parameter and buffer names, the weights, the summary's table; `make_spec`."""

import numpy as np
import pytest

from framework import SGD, Add, BatchNorm, BCELoss, Callback, ConfigError, Dense, Input, Model, ReLU, Sequential, Sigmoid
from framework.core.protocols import model_backward
from framework.core.registry import build_layer, build_model, make_spec, spec
from framework.training.callbacks import CallbackList, History, ProgressBar, callback_list
from framework.training.data import batch_bounds, data
from framework.training.loop import FitLoop


def test_train_step_is_forward_loss_backward_and_the_update() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((8, 3)), (rng.random((8, 1)) > 0.5).astype(float)
    model, twin = (Sequential([Dense(3, 2, seed=0), ReLU(), Dense(2, 1, seed=1), Sigmoid()]) for _ in range(2))
    loss = BCELoss()
    loop = FitLoop(model=model, loss=loss, optimizer=SGD(lr=0.1), metrics={}, evaluate=lambda xs, y: {},
                   training=data(x, y, "fit", model.named_parameters()), validation=None, bounds=[(0, 8)],
                   shuffle=False, rng=rng, callbacks=CallbackList([], epochs=1, batches=1, verbose=0))
    loop.params = model.parameters(trainable=True)
    cost, out = loop.train_step(x, y, first=True, check_parameters=False)

    expected_out = twin.forward(x)
    assert cost == pytest.approx(float(BCELoss().forward(expected_out, y).real))
    np.testing.assert_allclose(out, expected_out)
    twin_loss = BCELoss()
    twin_loss.forward(expected_out, y)
    twin.backward(twin_loss.backward())
    for (name, p), (_, q) in zip(model.named_parameters(), twin.named_parameters()):
        np.testing.assert_allclose(p.value, q.value - 0.1 * q.grad, err_msg=name)


def test_callback_list_sets_the_model_and_begins_each_callback_in_turn_history_first() -> None:
    calls: list[str] = []

    class Recorder(Callback):
        def __init__(self, name: str) -> None:
            self.name = name

        def set_model(self, model: object) -> None:
            calls.append(f"{self.name}.set_model")

        def on_train_begin(self) -> None:
            calls.append(f"{self.name}.on_train_begin")

    hooks = CallbackList([Recorder("a"), Recorder("b")], epochs=2, batches=3, verbose=2)
    assert isinstance(hooks.callbacks[0], History) and hooks.callbacks[0] is hooks.history
    assert isinstance(hooks.callbacks[-1], ProgressBar)
    hooks.set_model(Sequential([Dense(2, 1, seed=0)]))
    hooks.on_train_begin()
    assert calls == ["a.set_model", "a.on_train_begin", "b.set_model", "b.on_train_begin"]
    assert len(CallbackList([], epochs=1, batches=1, verbose=0).callbacks) == 1  # History alone when silent


def test_callback_list_refuses_a_callback_class_and_a_lone_callback() -> None:
    with pytest.raises(ConfigError, match=r"fit: callbacks\[0\] must be a Callback, got the class History"):
        callback_list([History])
    with pytest.raises(ConfigError, match=r"fit: callbacks must be a list of callbacks.*callbacks=\[History\(\.\.\.\)\]"):
        callback_list(History())


@pytest.mark.parametrize(("m", "batch_size", "smallest", "drop", "expected"), [
    (10, 4, 1, False, [(0, 4), (4, 8), (8, 10)]),
    (9, 4, 2, False, [(0, 4), (4, 9)]),  # a last batch of 1 merged: BatchNorm trains on 2 or more
    (10, 4, 1, True, [(0, 4), (4, 8)]),
    (3, 4, 1, False, [(0, 3)]),
])
def test_batch_bounds(m: int, batch_size: int, smallest: int, drop: bool, expected: list[tuple[int, int]]) -> None:
    assert batch_bounds(m, batch_size, smallest, drop) == expected


def graph() -> Model:
    x = Input(3)
    shared = Dense(3, 3, seed=0)
    h = Add()([shared(x), shared(ReLU()(x))])
    return Model(inputs=x, outputs=Sigmoid()(Dense(3, 1, seed=1)(BatchNorm()(h))))


def test_a_container_names_parameters_and_buffers_by_its_named_layers() -> None:
    sequential = Sequential([Dense(3, 2, seed=0), BatchNorm(), Dense(2, 1, seed=1)])
    assert [name for name, _ in sequential.named_layers()] == ["0", "1", "2"]
    assert [name for name, _ in sequential.named_weights()] == [
        "0.W", "0.b", "1.gamma", "1.beta", "2.W", "2.b", "1.running_mean", "1.running_var"]
    model = graph()
    assert [name for name, _ in model.named_layers()] == ["dense", "re_lu", "add", "batch_norm", "dense_1", "sigmoid"]
    assert [name for name, _ in model.named_parameters()] == [  # the shared Dense once
        "dense.W", "dense.b", "batch_norm.gamma", "batch_norm.beta", "dense_1.W", "dense_1.b"]
    assert [name for name, _ in model.named_buffers()] == ["batch_norm.running_mean", "batch_norm.running_var"]


@pytest.mark.parametrize("make", [lambda: Sequential([Dense(3, 2, seed=0), ReLU()]), graph])
def test_the_weights_round_trip_and_summary_rows_end_without_padding(make: object) -> None:
    model = make()  # type: ignore[operator]
    weights = [w + 1.0 for w in model.get_weights()]
    model.set_weights(weights)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), weights))
    lines: list[str] = []
    model.summary(print_fn=lines.append)
    rows = lines[0].splitlines()
    assert rows[0] == rows[-1] == rows[2].replace("=", "-") and set(rows[0]) == {"-"}
    assert all(row == row.rstrip() for row in rows)


def test_make_spec_is_what_the_registry_rebuilds() -> None:
    dense = Dense(3, 2, seed=0)
    assert spec(dense) == make_spec("Dense", dense.get_config())
    assert isinstance(build_layer(make_spec("ReLU", {}), "layer 0"), ReLU)
    model = build_model(make_spec("Sequential", {"layers": [make_spec("Dense", {"in_features": 2, "out_features": 1})]}), "model")
    assert isinstance(model, Sequential) and model.forward(np.ones((4, 2))).shape == (4, 1)


def test_model_backward_returns_the_method_itself() -> None:
    def backward(model: object, grad: np.ndarray, *, input_grad: bool = False) -> np.ndarray | None:
        return grad if input_grad else None

    assert model_backward(backward) is backward
