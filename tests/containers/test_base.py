"""A model's state: parameters found through sub-layers, lists and dicts, named by path and listed
once; frozen layers (`trainable = False`); the weights (parameters and buffers) that get_weights,
set_weights and EarlyStopping share; a parameter's grad kept consistent with its value; and a
forward that refuses NaN."""

import math
import re
from pathlib import Path

import numpy as np
import pytest

from framework import (
    SGD, Adam, BatchNorm, BCELoss, ConfigError, Dense, DTypeError, Input, Layer, Model, NonFiniteError, Parameter, ReLU,
    Sequential, ShapeError, Sigmoid, ValueRangeError, check_gradients, load_model, register_layer,
)
from framework.core.arrays import Array
from framework.core.layer import Config


@register_layer
class TwoDense(Layer):
    """A custom layer built from other layers, PyTorch's way: `self.d1`, `self.d2`, and a bias held in a
    dict as a learner writes it. dL/dx flows through d2, the ReLU between them and d1."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.features = features
        self.d1, self.relu, self.d2 = Dense(features, features, seed=1), ReLU(), Dense(features, features, seed=2)
        self.extra = {"c": Parameter(np.full(features, 0.5), name="c")}

    def forward(self, x: Array) -> Array:
        return self.d2.forward(self.relu.forward(self.d1.forward(x))) + self.extra["c"].value

    def backward(self, grad: Array) -> Array:
        self.extra["c"].grad[...] = grad.sum(axis=0)  # dL/dc = Σ_batch g
        return self.d1.backward(self.relu.backward(self.d2.backward(grad)))

    def get_config(self) -> Config:
        return {"features": self.features}


class Tied(Layer):
    """Holds one parameter twice (an attribute and a list) and shares another layer's W."""

    def __init__(self, other: Dense) -> None:
        super().__init__()
        self.s = Parameter(np.ones(3), name="s")
        self.again = [self.s]
        self.W = other.W

    def forward(self, x: Array) -> Array:
        return x * self.s.value


def data(m: int = 32, features: int = 3, seed: int = 0) -> tuple[Array, Array]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((m, features))
    return x, (x[:, :1] > 0).astype(np.float64)


# Parameters of sub-layers


def test_parameters_of_sub_layers_and_dicts_are_found_and_named_by_path() -> None:
    layer = TwoDense(3)
    assert [name for name, _ in layer.named_parameters()] == ["d1.W", "d1.b", "d2.W", "d2.b", "extra.c"]
    model = Sequential([layer, Dense(3, 1, seed=0), Sigmoid()])
    assert [p.name for p in model.parameters()] == ["0.d1.W", "0.d1.b", "0.d2.W", "0.d2.b", "0.extra.c", "1.W", "1.b"]


def test_a_parameter_held_twice_is_listed_once() -> None:
    dense = Dense(3, 3, seed=0)
    tied = Tied(dense)
    assert [name for name, _ in tied.named_parameters()] == ["s", "W"]
    model = Sequential([dense, tied])
    assert [p.name for p in model.parameters()] == ["0.W", "0.b", "1.s"]  # 1.W is 0.W: listed once


def test_parameters_of_sub_layers_are_checked_trained_saved_and_loaded(tmp_path: Path) -> None:
    x, y = data()
    model = Sequential([TwoDense(3), Dense(3, 1, seed=0), Sigmoid()])
    report = check_gradients(model, BCELoss(), x, y)
    assert report.passed, str(report)
    assert [row.name for row in report.rows][:5] == ["0.d1.W", "0.d1.b", "0.d2.W", "0.d2.b", "0.extra.c"]
    assert min(row.checked for row in report.rows) > 0
    before = model.get_weights()
    model.compile(loss=BCELoss(), optimizer=SGD(lr=0.1))
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, seed=0)
    after = model.get_weights()
    assert all(not np.array_equal(b, a) for b, a in zip(before, after))  # d1, d2 and c trained too
    loaded = load_model(model.save(tmp_path / "two.safetensors"))
    assert all(np.array_equal(a, b) for a, b in zip(loaded.get_weights(), after, strict=True))
    assert np.array_equal(loaded.predict(x), model.predict(x))


# Frozen layers


def test_a_frozen_layer_is_not_trained_and_the_others_are() -> None:
    x, y = data()
    first, last = Dense(3, 4, seed=0), Dense(4, 1, seed=1)
    model = Sequential([first, ReLU(), last, Sigmoid()])
    first.trainable = False
    assert [p.name for p in model.parameters(trainable=True)] == ["2.W", "2.b"]
    assert [p.name for p in model.parameters(trainable=False)] == ["0.W", "0.b"]
    frozen, trained = first.W.value.copy(), last.W.value.copy()
    model.compile(loss=BCELoss(), optimizer=Adam(lr=0.05))
    model.fit(x, y, epochs=3, batch_size=8, verbose=0, seed=0)
    assert np.array_equal(first.W.value, frozen)
    assert not np.array_equal(last.W.value, trained)
    assert np.any(first.W.grad != 0)  # backward still computes it: its gradient is still a fact


def test_freezing_a_layer_freezes_its_sub_layers_and_a_model_freezes_every_layer() -> None:
    layer = TwoDense(3)
    layer.d2.trainable = False
    assert [name for name, _ in layer.named_parameters(trainable=False)] == ["d2.W", "d2.b"]
    layer.trainable = False
    assert layer.named_parameters(trainable=True) == []
    model = Sequential([Dense(3, 3, seed=0), TwoDense(3)])
    model.trainable = False
    assert not model.trainable and model.parameters(trainable=True) == []
    model.trainable = True
    assert len(model.parameters(trainable=True)) == len(model.parameters()) == 7


def test_frozen_parameters_are_still_checked() -> None:
    x, y = data()
    model = Sequential([Dense(3, 4, seed=0), ReLU(), Dense(4, 1, seed=1), Sigmoid()])
    model.layers[0].trainable = False
    report = check_gradients(model, BCELoss(), x, y)
    assert report.passed and [row.name for row in report.rows] == ["0.W", "0.b", "2.W", "2.b"]


def test_a_frozen_layer_stays_frozen_through_save_and_load(tmp_path: Path) -> None:
    x = Input(3)
    frozen = Dense(3, 1, seed=0)
    graph = Model(x, Sigmoid()(frozen(ReLU()(Dense(3, 3, seed=1)(x)))))
    frozen.trainable = False
    loaded = load_model(graph.save(tmp_path / "graph.safetensors"))
    assert [p.name for p in loaded.parameters(trainable=False)] == ["dense_1.W", "dense_1.b"]
    chain = Sequential([Dense(3, 3, seed=0), ReLU(), Dense(3, 1, seed=1)])
    chain.layers[2].trainable = False
    assert chain.get_config()["layers"][2] == {  # type: ignore[index]
        "class": "Dense", "config": {"in_features": 3, "out_features": 1, "init": "he", "dtype": "float64"},
        "trainable": False,
    }
    again = load_model(chain.save(tmp_path / "chain.safetensors"))
    assert [layer.trainable for layer in again.layers] == [True, True, False]


# Weights: parameters and buffers


def test_get_weights_and_set_weights_carry_batchnorm_running_statistics() -> None:
    x, y = data(16, features=4)
    model = Sequential([Dense(4, 3, seed=0), BatchNorm(3), Dense(3, 1, seed=1), Sigmoid()])
    assert [name for name, _ in model.named_weights()] == ["0.W", "0.b", "1.gamma", "1.beta", "2.W", "2.b", "1.running_mean",
                                                           "1.running_var"]
    saved = model.get_weights()
    model.compile(loss=BCELoss(), optimizer=SGD(lr=0.5))
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, seed=0)
    assert not np.array_equal(model.get_weights()[6], saved[6])
    model.set_weights(saved)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), saved, strict=True))
    assert np.array_equal(model.layers[1].running_var.value, np.ones(3))  # type: ignore[attr-defined]


def test_set_weights_refuses_nan_and_changes_nothing() -> None:
    model = Sequential([Dense(3, 2, seed=0), Dense(2, 1, seed=1)])
    before = model.get_weights()
    weights = [w.copy() for w in before]
    weights[3][0] = np.nan
    with pytest.raises(NonFiniteError, match=r"set_weights: 1.b has 1 NaN and 0 inf entries, the first at \(0,\); nothing was set"):
        model.set_weights(weights)
    weights[3][0] = 0.0
    weights[0][...] = 7.0
    weights[2] = weights[2].T
    with pytest.raises(ShapeError, match=r"1.W has shape \(2, 1\), got \(1, 2\)"):
        model.set_weights(weights)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), before))  # 0.W was not set either


# A parameter's value and grad


def test_assigning_a_value_of_another_dtype_or_shape_gives_a_matching_grad() -> None:
    layer = Dense(3, 2, seed=0)
    layer.W.value = layer.W.value.astype(np.float32)
    assert layer.W.grad.dtype == np.float32 and layer.W.grad.shape == (3, 2)
    layer.W.value = np.ones((4, 5))
    assert layer.W.grad.dtype == np.float64 and layer.W.grad.shape == (4, 5) and not layer.W.grad.any()
    grad = layer.b.grad
    layer.b.value = np.zeros(2)  # same shape and dtype: the same grad array
    assert layer.b.grad is grad


# A forward that meets NaN


def test_forward_refuses_nan_in_the_input_and_names_where_it_is() -> None:
    model = Sequential([Dense(3, 2, seed=0), ReLU(), Dense(2, 1, seed=1)])
    x = np.ones((4, 3))
    x[2, 1] = np.nan
    with pytest.raises(NonFiniteError, match=re.escape(
        "Sequential.forward: x has 1 NaN and 0 inf entries, the first at (2, 1), so the output is not finite"
    )):
        model.forward(x)
    assert np.isnan(x[2, 1])  # the user's array is left as it was


def test_forward_with_a_nan_weight_names_the_weight() -> None:
    a = Input(3)
    hidden = Dense(3, 2, seed=0)
    model = Model(a, Dense(2, 1, seed=1)(hidden(a)))
    hidden.b.value[1] = math.inf
    with pytest.raises(NonFiniteError, match=r"Model.forward: dense.b has 0 NaN and 1 inf entries, the first at \(1,\)"):
        model.forward(np.ones((4, 3)))


def test_summary_counts_trainable_and_frozen_parameters_and_buffers() -> None:
    model = Sequential([Dense(3, 4, seed=0), BatchNorm(4), ReLU(), Dense(4, 1, seed=1)])
    model.layers[0].trainable = False
    lines: list[str] = []
    model.summary(print_fn=lines.append)
    assert lines[0].splitlines()[-5:-1] == [
        "Total params: 29 (float64)", "Trainable params: 13", "Non-trainable params: 16",
        "Buffers: 8 entries (running statistics: saved, never trained)",
    ]
    x = Input(3)
    graph = Model(x, Dense(1, seed=0)(x))
    graph.trainable = False
    lines.clear()
    graph.summary(print_fn=lines.append)
    assert lines[0].splitlines()[-4:-1] == ["Total params: 4 (float64)", "Trainable params: 0", "Non-trainable params: 4"]


# What a new user met (a review), each refused or handled


def test_a_model_cast_to_float32_after_it_was_built_saves_and_loads_as_float32(tmp_path: Path) -> None:
    x, y = data()
    model = Sequential([Dense(3, 4, seed=0), ReLU(), Dense(4, 1, seed=1), Sigmoid()])
    for p in model.parameters():
        p.value = p.value.astype(np.float32)
    model.compile(loss=BCELoss(), optimizer=SGD(lr=0.1))
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    loaded = load_model(model.save(tmp_path / "cast.safetensors"))
    assert loaded.predict(x).dtype == np.float32
    assert np.array_equal(loaded.predict(x), model.predict(x))


@pytest.mark.parametrize(
    ("last", "error", "message"),
    [
        (np.ones(1, dtype=complex), DTypeError, "set_weights: 3.b must hold real numbers, got dtype complex128; nothing was set"),
        (np.array(["a"]), DTypeError, "set_weights: 3.b must hold real numbers, got dtype <U1; nothing was set"),
        (-np.ones(4), ValueRangeError, "set_weights: 1.running_var holds -1.0, below the least value its layer allows (0.0)"),
    ],
)
def test_set_weights_checks_every_array_before_it_sets_any(last: Array, error: type[Exception], message: str) -> None:
    model = Sequential([Dense(4, 4, seed=0), BatchNorm(4), ReLU(), Dense(4, 1, seed=1)])
    before = model.get_weights()
    weights = [np.zeros_like(w) for w in before]
    if last.shape == (4,):
        weights[-1] = last
    else:
        weights[5] = last
    with pytest.raises(error, match=re.escape(message)):
        model.set_weights(weights)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), before))


@pytest.mark.parametrize("weights", [None, {"0.W": np.ones((3, 1))}, np.ones((3, 1))])
def test_set_weights_takes_a_list(weights: object) -> None:
    model = Sequential([Dense(3, 1, seed=0)])
    with pytest.raises(ConfigError, match=r"set_weights takes a list of arrays, as get_weights\(\) returns, got an? "):
        model.set_weights(weights)  # type: ignore[arg-type]


def test_a_frozen_batchnorm_normalises_with_its_running_statistics() -> None:
    x, y = data(40, features=4)
    model = Sequential([Dense(4, 8, seed=0), BatchNorm(8), ReLU(), Dense(8, 1, seed=1), Sigmoid()])
    model.trainable = False
    before = model.predict(x)
    model.compile(loss=BCELoss(), optimizer=SGD(lr=0.5))
    model.fit(x, y, epochs=3, batch_size=8, verbose=0, seed=0)
    assert np.array_equal(model.predict(x), before)  # nothing moved: weights nor running statistics


def test_a_frozen_sub_layer_stays_frozen_through_save_and_load(tmp_path: Path) -> None:
    model = Sequential([TwoDense(3), Dense(3, 1, seed=0)])
    cast_layer: TwoDense = model.layers[0]  # type: ignore[assignment]
    cast_layer.d1.trainable = False
    assert model.get_config()["layers"][0]["frozen"] == ["d1"]  # type: ignore[index,call-overload]
    loaded = load_model(model.save(tmp_path / "frozen.safetensors"))
    assert [p.name for p in loaded.parameters(trainable=False)] == ["0.d1.W", "0.d1.b"]


class LazyInside(Layer):
    """A custom layer holding a lazy Dense(units), built on its first input."""

    def __init__(self, units: int) -> None:
        super().__init__()
        self.units, self.d = units, Dense(units, seed=0)

    def forward(self, x: Array) -> Array:
        return self.d.forward(x)

    def backward(self, grad: Array) -> Array:
        return self.d.backward(grad)


def test_a_lazy_layer_held_by_a_custom_layer_is_built_with_the_model() -> None:
    x, y = data()
    model = Sequential([LazyInside(4), Dense(1, seed=1), Sigmoid()])
    assert check_gradients(model, BCELoss(), x, y).passed
    assert [p.name for p in model.parameters()] == ["0.d.W", "0.d.b", "1.W", "1.b"]
    declared = Sequential([Input(3), LazyInside(4), Dense(1, seed=1)])  # built at construction, by the probe
    assert declared.layers[0].d.W.shape == (3, 4) and "_x" not in vars(declared.layers[0].d)  # type: ignore[attr-defined]
    a = Input(3)
    graph = Model(a, Sigmoid()(Dense(1, seed=1)(LazyInside(4)(a))))
    assert [name for name, _ in graph.named_parameters()] == ["lazy_inside.d.W", "lazy_inside.d.b", "dense.W", "dense.b"]
    graph.compile(loss=BCELoss(), optimizer=SGD(lr=0.1))
    graph.fit(x, y, epochs=1, verbose=0)


class ForgetsReturn(Layer):
    def forward(self, x: Array) -> Array:
        return x

    def backward(self, grad: Array) -> Array:  # type: ignore[return]
        grad * 2  # BUG: no return


def test_a_bad_gradient_is_blamed_on_the_layer_whose_backward_returned_it() -> None:
    x, y = data()
    model = Sequential([Dense(3, 4, seed=0), ForgetsReturn(), Dense(4, 1, seed=1), Sigmoid()])
    model.compile(loss=BCELoss(), optimizer=SGD(lr=0.1))
    with pytest.raises(DTypeError, match=re.escape(
        "Dense(3 -> 4).backward expected a gradient of the output's dtype float64, got NoneType: it is what the "
        "backward of layer 1 ForgetsReturn() returned; the mistake is there"
    )):
        model.fit(x, y, verbose=0)


def test_a_gradient_or_a_value_of_another_shape_is_named() -> None:
    layer = Dense(3, 4, seed=0)
    with pytest.raises(ShapeError, match=re.escape(
        "Parameter 'W': a gradient of shape (4, 3) was assigned, but the value has shape (3, 4)"
    )):
        layer.W.grad = np.zeros((4, 3))
    layer.W.value = np.zeros((4, 3))
    with pytest.raises(ShapeError, match=re.escape("Dense(3 -> 4): W has shape (4, 3), but the layer was built as (3, 4)")):
        layer.forward(np.ones((2, 3)))


class TextFrame:
    """What numpy makes of a DataFrame with a text column: an object array."""

    def __array__(self, dtype: object = None, copy: object = None) -> Array:
        return np.array([[1.0, "a"], [2.0, "b"]], dtype=object)


def test_a_table_numpy_cannot_read_as_numbers_is_named() -> None:
    model = Sequential([Dense(2, 1, seed=0)])
    with pytest.raises(DTypeError, match=re.escape(
        "predict: x must hold numbers, got dtype object from a TextFrame (a column of text, or missing values?)"
    )):
        model.predict(TextFrame())  # type: ignore[arg-type]


def test_a_nested_model_that_knows_its_input_gives_the_outer_one_its_shapes() -> None:
    model = Sequential([Sequential([Dense(3, 3, seed=0), ReLU()]), Dense(1, seed=1)])
    lines: list[str] = []
    model.summary(print_fn=lines.append)
    assert "(None, 3)" in lines[0] and "(None, 1)" in lines[0] and "?" not in lines[0]


@pytest.mark.parametrize("flag", ["yes", None, 0])
def test_trainable_takes_true_or_false(flag: object) -> None:
    with pytest.raises(ConfigError, match=r"Dense\(3 -> 1\): trainable must be True or False, got "):
        Dense(3, 1).trainable = flag  # type: ignore[assignment]
