"""Graph models: residual and two-input models checked, trained and saved; shared layers; nesting;
errors at build time."""

import re
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from framework import (
    SGD, Adam, Add, BCELoss, ConfigError, Concatenate, Conv2D, Dense, Flatten, Input, Model, Multiply, ReLU, Sequential,
    ShapeError, Sigmoid,
    check_gradients, load_model,
)
from framework.core.node import Node

Floats = npt.NDArray[np.float64]


def data(m: int = 24, features: int = 6, seed: int = 0) -> tuple[Floats, Floats]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((m, features))
    return x, (x[:, :1] + x[:, 1:2] > 0).astype(np.float64)


def residual_model(features: int = 6) -> Model:
    x = Input(features)
    h = ReLU()(Dense(features, features, seed=0)(x))
    h = Add()([x, Dense(features, features, seed=1)(h)])
    return Model(inputs=x, outputs=Sigmoid()(Dense(features, 1, seed=2)(h)))


def two_input_model() -> Model:
    a, b = Input(6, name="a"), Input(3, name="b")
    h = Concatenate()([ReLU()(Dense(6, 4, seed=0)(a)), ReLU()(Dense(3, 4, seed=1)(b))])
    gate = Sigmoid()(Dense(3, 8, seed=2)(b))
    return Model(inputs=[a, b], outputs=Sigmoid()(Dense(8, 1, seed=3)(Multiply()([h, gate]))))


def test_residual_model_passes_both_checks_at_their_precision() -> None:
    x, y = data()
    model = residual_model()
    exact = check_gradients(model, BCELoss(), x, y, method="complex")
    assert exact.passed, str(exact)
    assert exact.worst_relative_error < 1e-13
    assert [r.name for r in exact.rows] == ["dense.W", "dense.b", "dense_1.W", "dense_1.b", "dense_2.W", "dense_2.b"]
    assert any("Add()" in part.subject for part in exact.parts)
    central = check_gradients(model, BCELoss(), x, y, method="central")
    assert central.passed, str(central)


def test_two_input_model_passes_the_complex_step_check() -> None:
    x, y = data()
    xb = np.random.default_rng(1).standard_normal((24, 3))
    report = check_gradients(two_input_model(), BCELoss(), [x, xb], y, method="complex")
    assert report.passed, str(report)
    assert report.worst_relative_error < 1e-13
    merge_parts = [p for p in report.parts if "Concatenate" in p.subject or "Multiply" in p.subject]
    assert [r.name for p in merge_parts for r in p.rows] == ["input 0", "input 1"] * 2


@pytest.mark.parametrize("build", [residual_model, two_input_model])
def test_graph_models_train_and_round_trip_bit_for_bit(build: object, tmp_path: Path) -> None:
    model = build()  # type: ignore[operator]
    assert isinstance(model, Model)
    x, y = data(m=200)
    inputs: list[Floats] | Floats = [x, np.random.default_rng(1).standard_normal((200, 3))] if len(model.inputs) == 2 else x
    model.compile(loss=BCELoss(), optimizer=Adam(lr=0.01), metrics=["accuracy"])
    history = model.fit(inputs, y, epochs=15, batch_size=32, verbose=0, seed=0)
    assert history.history["loss"][-1] < history.history["loss"][0] * 0.8
    path = model.save(tmp_path / "graph.safetensors")
    loaded = load_model(path)
    assert isinstance(loaded, Model)
    assert np.array_equal(loaded.predict(inputs), model.predict(inputs))
    assert [n for n, _ in loaded.named_parameters()] == [n for n, _ in model.named_parameters()]


def test_a_shared_layer_gets_the_sum_of_both_gradients() -> None:
    x, y = data()
    shared = Dense(6, 6, seed=0)
    inp = Input(6)
    out = Sigmoid()(Dense(6, 1, seed=1)(Add()([shared(inp), ReLU()(shared(ReLU()(inp)))])))
    model = Model(inp, out)
    assert [n for n, _ in model.named_parameters()] == ["dense.W", "dense.b", "dense_1.W", "dense_1.b"]
    report = check_gradients(model, BCELoss(), x, y, method="complex")
    assert report.passed, str(report)
    loss = BCELoss()
    loss.forward(model.forward(x), y)
    model.backward(loss.backward())
    g_shared = shared.W.grad.copy()
    # the same sum by hand: two unshared copies with the same weights, gradients added
    first, second = Dense(6, 6, seed=0), Dense(6, 6, seed=0)
    head = Dense(6, 1, seed=1)
    inp2 = Input(6)
    twin = Model(inp2, Sigmoid()(head(Add()([first(inp2), ReLU()(second(ReLU()(inp2)))]))))
    loss.forward(twin.forward(x), y)
    twin.backward(loss.backward())
    np.testing.assert_allclose(g_shared, first.W.grad + second.W.grad, rtol=1e-12, atol=1e-15)
    assert not np.allclose(g_shared, first.W.grad)


def test_models_nest_as_layers_both_ways(tmp_path: Path) -> None:
    x, y = data()
    inner = Sequential([Dense(6, 5, seed=0), ReLU()])
    inp = Input(6)
    graph = Model(inp, Sigmoid()(Dense(5, 1, seed=1)(inner(inp))))
    outer = Sequential([graph])
    for model in (graph, outer):
        report = check_gradients(model, BCELoss(), x, y, method="complex")
        assert report.passed, str(report)
    assert [n for n, _ in outer.named_parameters()] == ["0.nested.0.W", "0.nested.0.b", "0.dense.W", "0.dense.b"]
    loaded = load_model(outer.save(tmp_path / "nested.safetensors"))
    assert np.array_equal(loaded.predict(x), outer.predict(x))


def test_dense_units_builds_from_the_declared_input_and_summary_shows_the_graph(capsys: pytest.CaptureFixture[str]) -> None:
    inp = Input(64)
    h = ReLU()(Dense(16, seed=0)(inp))
    model = Model(inp, Sigmoid()(Dense(1, seed=1)(Add()([h, Dense(16, seed=2)(inp)]))))
    assert model.parameters()[0].shape == (64, 16)
    model.summary()
    out = capsys.readouterr().out
    assert "input (Input)" in out and "(None, 64)" in out
    assert "add (Add())" in out and "re_lu, dense_1" in out
    assert "Total params: 2,097 (float64)" in out  # 64*16+16 twice, 16+1


def test_mismatched_shapes_fail_when_the_graph_is_built_naming_the_nodes() -> None:
    a, b = Input(6, name="a"), Input(4, name="b")
    with pytest.raises(ShapeError, match=r"Add\(\) cannot be called on a \(None, 6\), b \(None, 4\)"):
        Add()([a, b])
    with pytest.raises(ShapeError, match=r"Dense\(5 -> 2\) cannot be called on a \(None, 6\)"):
        Dense(5, 2)(a)


def test_a_cycle_is_rejected_naming_the_nodes() -> None:
    a = Input(3, name="a")
    first = Dense(3, 3)(a)
    second = ReLU()(first)
    object.__setattr__(first, "parents", (second,))  # only a hand-made node can close a loop
    with pytest.raises(ShapeError, match=r"cycle: .*ReLU\(\).*Dense\(3 -> 3\)"):
        Model(a, second)


def test_outputs_that_need_an_undeclared_input_are_rejected() -> None:
    a, b = Input(3, name="a"), Input(3, name="b")
    with pytest.raises(ShapeError, match="depend on b"):
        Model(a, Add()([a, b]))


def test_layers_refuse_arrays_where_a_graph_needs_nodes() -> None:
    with pytest.raises(TypeError, match="call layers on Input"):
        Dense(3, 1)(np.ones((2, 3)))  # type: ignore[arg-type]


def test_inputs_and_outputs_must_be_nodes() -> None:
    a = Input(3)
    message = "Model: outputs must be a node or a list of nodes, got Dense(? -> 1): nodes come from Input(...)"
    with pytest.raises(ConfigError, match=re.escape(message)):
        Model(inputs=a, outputs=Dense(1))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=re.escape("Model: inputs must be a node or a list of nodes, got 3")):
        Model(inputs=3, outputs=Dense(1)(a))  # type: ignore[arg-type]


def test_node_shapes_keep_the_batch_implicit() -> None:
    node = Dense(3, seed=0)(Input(5))
    assert isinstance(node, Node) and node.shape == (None, 3)


def test_sequential_declares_its_input_with_an_input_node(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = Sequential([Input(64), Dense(4, seed=0), ReLU(), Dense(1, seed=1), Sigmoid()])
    assert model.input_shape == (None, 64) and model.parameters()[0].shape == (64, 4)
    model.summary()
    assert "0 Dense(64 -> 4)  (None, 4)     260" in capsys.readouterr().out
    loaded = load_model(model.save(tmp_path / "s.safetensors"))
    assert isinstance(loaded, Sequential) and loaded.input_shape == (None, 64)
    with pytest.raises(TypeError, match="only an Input"):
        Sequential([Dense(3, seed=0)(Input(2)), ReLU()])


def test_predict_runs_in_eval_mode_and_leaves_the_mode_as_it_was() -> None:
    from framework import Dropout

    model = Sequential([Input(4), Dense(8, seed=0), Dropout(0.5, seed=1), Dense(1, seed=2), Sigmoid()])
    x = np.random.default_rng(0).standard_normal((5, 4))
    assert np.array_equal(model.predict(x), model.predict(x))  # no dropout at inference
    assert not np.array_equal(model.forward(x), model.predict(x))  # training mode drops units
    assert all(layer.training for layer in model.layers)
    model.set_training(False)
    model.predict(x)
    assert not any(layer.training for layer in model.layers)
    assert np.array_equal(model.forward(x), model.predict(x))


def test_a_conv2d_called_twice_keeps_each_calls_patches() -> None:
    """Its gradient is the sum of two copies' (it read the second call's im2col matrix for both, from
    the array a Conv2D kept between forwards: 0.56 off; from the new user's review)."""
    rng = np.random.default_rng(0)
    xa, xb = rng.standard_normal((4, 6, 6, 2)), rng.standard_normal((4, 6, 6, 2))
    y = rng.integers(0, 2, (4, 1)).astype(np.float64)
    for padding in ("valid", "same"):
        a, b, conv = Input((6, 6, 2)), Input((6, 6, 2)), Conv2D(3, 3, padding=padding, seed=0)
        shared = Model([a, b], Sigmoid()(Dense(1, seed=1)(Flatten()(Add()([conv(a), conv(b)])))))
        report = check_gradients(shared, BCELoss(), [xa, xb], y, localize=False)
        assert report.passed, str(report)
        a, b, first, second = Input((6, 6, 2)), Input((6, 6, 2)), Conv2D(3, 3, padding=padding, seed=0), \
            Conv2D(3, 3, padding=padding, seed=0)
        apart = Model([a, b], Sigmoid()(Dense(1, seed=1)(Flatten()(Add()([first(a), second(b)])))))
        for model in (shared, apart):
            loss = BCELoss()
            loss.forward(model.forward([xa, xb]), y)
            model.backward(loss.backward())
        np.testing.assert_allclose(conv.W.grad, first.W.grad + second.W.grad, rtol=1e-12, atol=1e-15)


def test_a_nested_model_called_twice_is_one_shared_layer() -> None:
    """One layer for both calls: each call's caches kept, the gradients summed, saved as shared (it was
    a CallOrderError at the first backward; from the new user's review)."""
    rng = np.random.default_rng(0)
    xa, xb = rng.standard_normal((5, 6)), rng.standard_normal((5, 6))
    y = rng.integers(0, 2, (5, 1)).astype(np.float64)
    inner = Sequential([Dense(6, 4, seed=1), ReLU()])
    a, b = Input(6), Input(6)
    model = Model([a, b], Sigmoid()(Dense(4, 1, seed=2)(Add()([inner(a), inner(b)]))))
    assert [name for name, _ in model.named_parameters()] == ["nested.0.W", "nested.0.b", "dense.W", "dense.b"]
    assert check_gradients(model, BCELoss(), [xa, xb], y).passed
    model.compile(loss=BCELoss(), optimizer=SGD(lr=0.1))
    model.fit([xa, xb], y, epochs=2, verbose=0)
