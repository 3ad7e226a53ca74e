"""Sequential: parameter names and order, forward and backward against an independent numpy
reference differentiated by the complex step, summary(), and layers that do not fit."""

import math
import re

import numpy as np
import numpy.typing as npt
import pytest

from framework import (
    SGD, BCELoss, ConfigError, Conv2D, Dense, Flatten, Input, MSELoss, ReLU, Sequential, ShapeError, Sigmoid, Tanh,
    check_gradients,
)
from models import four_three_one





H = 1e-20
Floats = npt.NDArray[np.float64]
Complex = npt.NDArray[np.complex128]


def reference_cost(weights: list[Complex], x: Complex, y: Floats) -> complex:
    """BCE of the 4-3-1 model written out in numpy, independent of the framework's layers:
    relu(relu(x W0 + b0) W1 + b1) W2 + b2 -> sigmoid -> -mean(y log a + (1 - y) log(1 - a))."""
    W0, b0, W1, b1, W2, b2 = weights
    h = x @ W0 + b0
    h = h * (h.real > 0)
    h = h @ W1 + b1
    h = h * (h.real > 0)
    a = 1 / (1 + np.exp(-(h @ W2 + b2)))
    return complex(-np.mean(y * np.log(a) + (1 - y) * np.log(1 - a)))


def complex_step_gradient(weights: list[Complex], x: Complex, y: Floats, target: Complex) -> Floats:
    """dJ/d(target) entry by entry, target being x or one of `weights`: Im J(t + iH e_k) / H."""
    out = np.empty(target.shape)
    for k in np.ndindex(target.shape):
        target[k] += 1j * H
        out[k] = reference_cost(weights, x, y).imag / H
        target[k] -= 1j * H
    return out


@pytest.fixture
def data() -> tuple[Floats, Floats]:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 5))
    y = np.array([[1.0], [0.0], [0.0], [1.0], [1.0], [0.0]])
    return x, y


def test_parameters_are_named_by_position_in_layer_order() -> None:
    model = four_three_one(64)
    assert [name for name, _ in model.named_parameters()] == ["0.W", "0.b", "2.W", "2.b", "4.W", "4.b"]
    assert [p.name for p in model.parameters()] == ["0.W", "0.b", "2.W", "2.b", "4.W", "4.b"]
    owners = [model.layers[0].W, model.layers[0].b, model.layers[2].W, model.layers[2].b,  # type: ignore[attr-defined]
              model.layers[4].W, model.layers[4].b]  # type: ignore[attr-defined]
    assert all(p is q for p, q in zip(model.parameters(), owners, strict=True))
    assert [p.shape for p in model.parameters()] == [(64, 4), (4,), (4, 3), (3,), (3, 1), (1,)]


def test_forward_applies_the_layers_in_order() -> None:
    first = Dense(3, 2)
    first.W.value[...] = [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
    first.b.value[...] = [0.5, -1.0]
    second = Dense(2, 1)
    second.W.value[...] = [[1.0], [-1.0]]
    second.b.value[...] = [0.25]
    out = Sequential([first, ReLU(), second, Sigmoid()]).forward(np.array([[1.0, 0.0, -1.0], [2.0, 1.0, 0.0]]))
    # Dense: [[-3.5, -5], [5.5, 7]] -> ReLU: [[0, 0], [5.5, 7]] -> Dense: [[0.25], [-1.25]] -> sigmoid
    np.testing.assert_allclose(out, [[1 / (1 + math.exp(-0.25))], [1 / (1 + math.exp(1.25))]], rtol=1e-15)


def test_backward_returns_none_and_sets_every_parameter_gradient(data: tuple[Floats, Floats]) -> None:
    x, y = data
    model = four_three_one(5, seed=4)
    loss = BCELoss()
    loss.forward(model.forward(x), y)
    assert model.backward(loss.backward()) is None
    weights = [p.value.astype(np.complex128) for p in model.parameters()]
    for p, w in zip(model.parameters(), weights, strict=True):
        expected = complex_step_gradient(weights, x.astype(np.complex128), y, w)
        assert np.abs(expected).max() > 1e-3, p.name  # the check is not vacuous
        np.testing.assert_allclose(p.grad, expected, rtol=1e-12, atol=1e-15, err_msg=p.name)


def test_backward_with_input_grad_returns_dl_dx(data: tuple[Floats, Floats]) -> None:
    x, y = data
    model = four_three_one(5, seed=4)
    loss = BCELoss()
    loss.forward(model.forward(x), y)
    dx = model.backward(loss.backward(), input_grad=True)
    assert dx.shape == x.shape and dx.dtype == np.float64
    weights = [p.value.astype(np.complex128) for p in model.parameters()]
    x_complex = x.astype(np.complex128)
    expected = complex_step_gradient(weights, x_complex, y, x_complex)
    assert np.count_nonzero(expected) >= 15
    np.testing.assert_allclose(dx, expected, rtol=1e-12, atol=1e-15)


def test_input_grad_does_not_change_the_parameter_gradients(data: tuple[Floats, Floats]) -> None:
    x, y = data
    grads = []
    for input_grad in (False, True):
        model, loss = four_three_one(5, seed=4), BCELoss()
        loss.forward(model.forward(x), y)
        model.backward(loss.backward(), input_grad=input_grad)
        grads.append([p.grad.copy() for p in model.parameters()])
    for without, with_dx in zip(*grads, strict=True):
        np.testing.assert_array_equal(without, with_dx)


def test_summary_lists_layers_shapes_and_counts(capsys: pytest.CaptureFixture[str]) -> None:
    four_three_one(64).summary()
    out = capsys.readouterr().out
    rows = {
        "0 Dense(64 -> 4)": ("(None, 4)", "260"),
        "1 ReLU()": ("(None, 4)", "0"),
        "2 Dense(4 -> 3)": ("(None, 3)", "15"),
        "3 ReLU()": ("(None, 3)", "0"),
        "4 Dense(3 -> 1)": ("(None, 1)", "4"),
        "5 Sigmoid()": ("(None, 1)", "0"),
    }
    for layer, (shape, count) in rows.items():
        assert re.search(rf"^{re.escape(layer)}\s+{re.escape(shape)}\s+{count}\s*$", out, flags=re.M), layer
    assert "Total params: 279 (float64)" in out
    assert out.index("0 Dense") < out.index("2 Dense") < out.index("4 Dense") < out.index("Total params")


def test_summary_of_a_float32_model_with_print_fn() -> None:
    lines: list[str] = []
    four_three_one(12288, dtype=np.float32).summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert re.search(r"^0 Dense\(12288 -> 4\)\s+\(None, 4\)\s+49,156\s*$", text, flags=re.M)
    assert "Total params: 49,175 (float32)" in text


def test_summary_shows_the_shapes_once_fit_forward_or_the_checker_saw_an_input(capsys: pytest.CaptureFixture[str]) -> None:
    model = Sequential([ReLU(), Dense(4, seed=0)])
    model.summary()
    assert re.search(r"^1 Dense\(\? -> 4\)\s+\?\s+0\s*$", capsys.readouterr().out, flags=re.M)  # nothing known yet
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((10, 3)), rng.standard_normal((10, 4))
    model.compile(loss=MSELoss(), optimizer=SGD(lr=0.1))
    model.fit(x, y, epochs=1, verbose=0)
    assert model.input_shape == (None, 3)
    model.summary()
    out = capsys.readouterr().out
    assert re.search(r"^0 ReLU\(\)\s+\(None, 3\)\s+0\s*$", out, flags=re.M), out
    assert re.search(r"^1 Dense\(3 -> 4\)\s+\(None, 4\)\s+16\s*$", out, flags=re.M), out
    ran = Sequential([Tanh(), Dense(2, 1, seed=0)])
    with pytest.raises(ShapeError, match=r"Dense\(2 -> 1\) expected input of shape \(batch, 2\), got \(3, 5\)"):
        ran.forward(np.ones((3, 5)))  # a forward that raised tells nothing
    assert ran.input_shape is None
    ran.forward(np.ones((3, 2)))
    assert ran.input_shape == (None, 2)
    agnostic = Sequential([Tanh(), ReLU()])
    agnostic.forward(np.ones((2, 5)))
    agnostic.forward(np.ones((2, 7)))
    assert agnostic.input_shape == (None, 5)  # the first run's
    checked = Sequential([Tanh(), Dense(1, seed=0), Sigmoid()])
    assert check_gradients(checked, BCELoss(), x, (y[:, :1] > 0).astype(np.float64)).passed
    assert checked.input_shape == (None, 3)


def test_output_shapes() -> None:
    assert four_three_one(64).output_shapes((None, 64)) == [(None, 4), (None, 4), (None, 3), (None, 3), (None, 1),
                                                            (None, 1)]
    assert four_three_one(64).output_shapes((32, 64))[-1] == (32, 1)


def test_layers_that_do_not_fit_raise_at_construction_naming_both() -> None:
    with pytest.raises(ShapeError) as info:
        Sequential([Dense(64, 4), Dense(5, 3)])
    message = str(info.value)
    assert "layer 1 Dense(5 -> 3)" in message and "layer 0 Dense(64 -> 4)" in message
    assert "expects 5 features, gets 4" in message


def test_misfit_behind_an_activation_names_the_layer_before() -> None:
    with pytest.raises(ShapeError, match=r"layer 2 Dense\(5 -> 3\) does not fit after layer 1 ReLU\(\)"):
        Sequential([Dense(64, 4), ReLU(), Dense(5, 3)])


def test_empty_model_and_non_layers_are_refused() -> None:
    with pytest.raises(ShapeError, match="at least one layer"):
        Sequential([])
    with pytest.raises(ConfigError, match="item 1 is a str, not a Layer"):
        Sequential([Dense(3, 2), "relu"])  # type: ignore[list-item]
    with pytest.raises(ConfigError, match=re.escape("Sequential takes a list of layers, got a Dense: Sequential([layer, ...])")):
        Sequential(Dense(3, 2))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"item 1 is the class ReLU, not a layer: pass an instance, ReLU\(\.\.\.\)"):
        Sequential([Dense(3, 2), ReLU])  # type: ignore[list-item]


def test_a_layer_object_may_stand_once() -> None:
    shared = Dense(3, 3, seed=0)
    message = "item 2 is the same Dense(3 -> 3) object as item 0; each layer keeps the cache of its own forward"
    with pytest.raises(ConfigError, match=re.escape(message)):
        Sequential([shared, Tanh(), shared, Dense(3, 1), Sigmoid()])


def test_a_layer_object_may_stand_once_inside_a_nested_model_too() -> None:
    """Not only once among the items: once among their layers (it was a CallOrderError at the first backward)."""
    relu = ReLU()
    inner = Sequential([Dense(4, 4, seed=1), Sequential([Dense(4, 4, seed=3), relu])])
    with pytest.raises(ConfigError, match=re.escape("item 2 holds the same ReLU() object as item 1; each layer")):
        Sequential([Dense(4, 4, seed=0), relu, inner, Dense(4, 1, seed=2), Sigmoid()])
    with pytest.raises(ConfigError, match=re.escape("item 2 is the same ReLU() object as a layer of item 1")):
        Sequential([Dense(4, 4, seed=0), inner, relu])


# --- a model of Dense, ReLU and Sigmoid ----------------------------------------------------------


def test_float32_kept_through_a_model() -> None:
    model = four_three_one(3, dtype=np.float32)
    x = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]], dtype=np.float32)
    y = np.array([[1.0], [0.0]], dtype=np.float32)
    loss = BCELoss()
    y_pred = model.forward(x)
    assert y_pred.dtype == np.float32
    loss.forward(y_pred, y)
    dx = model.backward(loss.backward(), input_grad=True)
    assert dx.dtype == np.float32
    assert {str(p.value.dtype) for p in model.parameters()} == {"float32"}
    assert {str(p.grad.dtype) for p in model.parameters()} == {"float32"}


def test_errors_raised_by_a_model_name_the_layer() -> None:
    model = Sequential([Dense(4, 3, seed=0), ReLU(), Dense(3, 1, seed=1), Sigmoid()])
    with pytest.raises(ShapeError, match=r"Dense\(4 -> 3\) expected input of shape \(batch, 4\), got \(5, 3\)"):
        model.forward(np.zeros((5, 3)))


@pytest.mark.parametrize(("shape", "hint"), [
    ((4, 8, 8), ": add the channel axis, x[..., np.newaxis]"),
    ((8, 8, 1), ": one sample? add the batch axis, x[np.newaxis]"),
    ((4, 1, 8, 8), ": channels-first? transpose to (batch, H, W, C) with x.transpose(0, 2, 3, 1)"),
    ((4, 64), ": rows of 64 numbers? reshape to (batch, 8, 8, 1)"),
    ((4, 8, 8, 3), ""),
])
def test_data_unlike_the_declared_input_shape_are_refused_with_the_fix(shape: tuple[int, ...], hint: str) -> None:
    model = Sequential([Input((8, 8, 1)), Conv2D(2, 3), Flatten(), Dense(72, 1, seed=0)])
    model.compile(loss=MSELoss(), optimizer=SGD(0.1))
    with pytest.raises(ShapeError) as refused:
        model.fit(np.zeros(shape), np.zeros((shape[0], 1)), verbose=0)
    assert str(refused.value) == (f"Sequential: x has shape {shape}, but the model takes (batch, 8, 8, 1), the input "
                                  f"shape it was declared with{hint}")
