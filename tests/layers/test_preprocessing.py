"""Normalization: statistics from adapt (or given), a forward and backward worked out by hand, buffers
that are saved, loaded and left alone by the gradient checker, and a clear error before adapt."""

import re
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy
from safetensors import safe_open

from framework import (
    BCELoss, CallOrderError, ConfigError, Dense, DTypeError, FormatError, Input, Model, NonFiniteError, Normalization,
    Sequential, ShapeError, Sigmoid, ValueRangeError, check_gradients, check_layer, load_model,
)
from models import four_three_one, mlp_classifier

X = np.array([[1.0, 10.0, 5.0], [3.0, 10.0, 1.0], [5.0, 10.0, 3.0]])
"""Means 3, 10, 3; biased variances 8/3, 0, 8/3."""


def adapted(x: np.ndarray = X, **kwargs: object) -> Normalization:
    layer = Normalization(**kwargs)  # type: ignore[arg-type]
    layer.adapt(x)
    return layer


def test_adapt_gives_the_mean_and_biased_variance_of_each_feature() -> None:
    layer = adapted()
    np.testing.assert_array_equal(layer.mean.value, [3.0, 10.0, 3.0])
    np.testing.assert_allclose(layer.variance.value, [8 / 3, 0.0, 8 / 3], rtol=1e-15)
    assert layer.count.value.tolist() == [3.0] and layer.features == 3 and layer.adapted
    rng = np.random.default_rng(0)
    x = rng.normal(5.0, 3.0, (200, 7))
    layer = adapted(x)
    np.testing.assert_allclose(layer.mean.value, np.mean(x, axis=0), rtol=1e-14)
    np.testing.assert_allclose(layer.variance.value, np.var(x, axis=0), rtol=1e-14)
    assert repr(layer) == "Normalization(axis=-1, features=7)"


def test_adapt_along_another_axis_takes_every_other_axis() -> None:
    x = np.random.default_rng(1).normal(0.0, 2.0, (6, 4, 5))
    layer = adapted(x, axis=1)
    np.testing.assert_allclose(layer.mean.value, x.mean(axis=(0, 2)), rtol=1e-14)
    np.testing.assert_allclose(layer.variance.value, x.var(axis=(0, 2)), rtol=1e-14)
    y = layer.forward(x)
    np.testing.assert_allclose(y.mean(axis=(0, 2)), 0.0, atol=1e-15)
    np.testing.assert_allclose(y.var(axis=(0, 2)), 1.0, rtol=1e-13)


def test_adapt_accumulates_float32_and_integer_data_in_float64() -> None:
    x = np.full((1000, 2), [1e4, 0.1], dtype=np.float32) + np.float32(1e-3) * np.arange(1000, dtype=np.float32)[:, None]
    layer = adapted(x, dtype=np.float32)
    assert layer.mean.value.dtype == layer.variance.value.dtype == np.float32
    exact = x.astype(np.float64)
    np.testing.assert_array_equal(layer.mean.value, exact.mean(axis=0).astype(np.float32))
    np.testing.assert_array_equal(layer.variance.value, exact.var(axis=0).astype(np.float32))
    np.testing.assert_array_equal(adapted(np.array([[0, 2], [4, 2]], dtype=np.uint8)).mean.value, [2.0, 2.0])


def test_forward_and_backward_worked_out_by_hand() -> None:
    layer = adapted()
    y = layer.forward(np.array([[3.0 + np.sqrt(8 / 3), 10.5, 1.0]]))
    # (x - 3) / sqrt(8/3) = 1; the constant feature: 0.5 / sqrt(1e-7) = 1581.14...; (1 - 3) / sqrt(8/3)
    np.testing.assert_allclose(y, [[1.0, 0.5 / np.sqrt(1e-7), -2 / np.sqrt(8 / 3)]], rtol=1e-14)
    assert Normalization.EPS == 1e-7
    np.testing.assert_allclose(layer.backward(np.array([[2.0, 1.0, -1.0]])),
                               [[2 / np.sqrt(8 / 3), 1 / np.sqrt(1e-7), -1 / np.sqrt(8 / 3)]], rtol=1e-14)
    np.testing.assert_array_equal(layer.forward(X)[:, 1], [0.0, 0.0, 0.0])  # constant on the data it saw


def test_given_mean_and_variance_one_each_or_one_per_feature() -> None:
    x = np.array([[1.0, 11.0], [5.0, 9.0]])
    np.testing.assert_array_equal(Normalization(mean=[3.0, 10.0], variance=[4.0, 0.25]).forward(x),
                                  [[-1.0, 2.0], [1.0, -2.0]])
    np.testing.assert_array_equal(Normalization(mean=1.0, variance=4.0).forward(x), [[0.0, 5.0], [2.0, 4.0]])
    layer = Normalization(mean=1.0, variance=4.0, features=2)
    np.testing.assert_array_equal(layer.mean.value, [1.0, 1.0])
    assert layer.features == 2 and layer.count.value.tolist() == [0.0] and layer.adapted
    assert layer.get_config() == {"axis": -1, "mean": [1.0, 1.0], "variance": [4.0, 4.0], "features": 2,
                                  "dtype": "float64"}
    layer.adapt(x)  # replaces them: the file, not the config, then holds the statistics
    np.testing.assert_array_equal(layer.mean.value, [3.0, 10.0])
    assert layer.get_config()["mean"] is None and layer.count.value.tolist() == [2.0]


def test_the_users_arrays_are_not_modified() -> None:
    x, grad = X.copy(), np.ones((3, 3))
    layer = adapted(x)
    layer.forward(x)
    layer.backward(grad)
    np.testing.assert_array_equal(x, X)
    np.testing.assert_array_equal(grad, np.ones((3, 3)))


def test_a_forward_before_adapt_is_a_call_order_error_naming_the_layer() -> None:
    for layer, name in [(Normalization(), "Normalization(axis=-1)"),
                        (Normalization(features=3), "Normalization(axis=-1, features=3)")]:
        with pytest.raises(CallOrderError, match=re.escape(
                f"{name}: forward() before adapt(): call adapt(x_train) on the training data first, or pass mean= "
                "and variance=")):
            layer.forward(X)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: adapted().forward(np.ones((2, 4))), ShapeError,
         "Normalization(axis=-1, features=3) expected 3 features on axis -1, got input of shape (2, 4)"),
        (lambda: adapted().forward(np.ones(3)), ShapeError,
         "Normalization(axis=-1, features=3): axis -1 of an input of shape (3,) is its batch axis: a single sample "
         "needs a batch axis, x.reshape(1, -1)"),
        (lambda: adapted().forward(X.astype(np.float32)), DTypeError,
         "Normalization(axis=-1, features=3) has float64 statistics but got a float32 input: cast the input with "
         "x.astype(np.float64), or build the layer with dtype=np.float32"),
        (lambda: adapted(np.ones((2, 2, 3)), axis=3), ShapeError,
         "Normalization(axis=3) expected an input with an axis 3, got shape (2, 2, 3)"),
        (lambda: adapted().adapt(np.ones((5, 4))), ShapeError,
         "Normalization(axis=-1, features=3).adapt expected 3 features on axis -1, got shape (5, 4)"),
        (lambda: adapted(np.ones(4)), ShapeError,
         "Normalization(axis=-1).adapt expected a non-empty batch of samples, (samples, features), got shape (4,)"),
        (lambda: adapted(np.array([[1.0, np.nan]])), NonFiniteError,
         "Normalization(axis=-1).adapt: x has 1 NaN and 0 inf entries, the first at (0, 1)"),
        (lambda: adapted(np.array([[1e200], [-1e200]])), NonFiniteError,
         "Normalization(axis=-1).adapt: overflow encountered"),
        (lambda: adapted(np.array([["a"]])), DTypeError,
         "Normalization(axis=-1).adapt expected an array of real numbers, got dtype <U1"),
        (lambda: Normalization(axis=0), ValueRangeError,
         "Normalization: axis 0 is the batch axis: pass the axis of the features (-1, the last)"),
        (lambda: Normalization(mean=[1.0]), ConfigError,
         "Normalization: pass both mean and variance, or neither and adapt() the layer"),
        (lambda: Normalization(mean=[1.0, 2.0], variance=[1.0, 2.0, 3.0]), ShapeError,
         "Normalization: mean and variance must be numbers, or sequences of numbers of one length"),
        (lambda: Normalization(mean=[1.0, 2.0], variance=[1.0, -2.0]), ValueRangeError,
         "Normalization: variance must be at least 0, got -2.0"),
        (lambda: Normalization(mean=[1.0, 2.0], variance=1.0, features=3), ShapeError,
         "Normalization: features=3, but mean and variance have 2 entries"),
        (lambda: Normalization(features=0), ConfigError,
         "Normalization: features must be a whole number of at least 1, got 0"),
    ],
)
def test_bad_inputs_are_clear_errors(call: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=re.escape(message)):
        call()  # type: ignore[operator]


@pytest.mark.parametrize("method", ["complex", "central"])
def test_the_checker_passes_and_leaves_the_statistics_as_they_were(method: str) -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(4.0, 3.0, (16, 3))
    layer = adapted(x)
    before = [b.value.copy() for _, b in layer.named_buffers()]
    for mode in ("full", "sampled", "directional"):  # one entry of x at a time, and along random directions
        assert check_layer(layer, x, method=method, mode=mode).passed, mode  # type: ignore[arg-type]
    model = Sequential([Input(3), layer, Dense(3, 1, seed=0), Sigmoid()])
    y = (x[:, :1] > 4).astype(np.float64)
    assert check_gradients(model, BCELoss(), x, y, method=method).passed  # type: ignore[arg-type]
    for (name, b), value in zip(layer.named_buffers(), before):
        np.testing.assert_array_equal(b.value, value, err_msg=name)
    assert [name for name, _ in layer.named_buffers()] == ["mean", "variance", "count"]
    assert layer.parameters() == []


def test_adapted_statistics_are_saved_and_loaded_with_the_model(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(100.0, 20.0, (50, 4))
    model = Sequential([Input(4), adapted(x, dtype=np.float32), Dense(4, 2, seed=0, dtype=np.float32)])
    loaded = load_model(model.save(tmp_path / "m.safetensors"))
    layer = loaded.layers[0]
    assert isinstance(layer, Normalization) and layer.adapted and repr(layer) == "Normalization(axis=-1, features=4)"
    assert loaded.get_config() == model.get_config()
    assert model.get_config()["layers"][0] == {  # type: ignore[index]
        "class": "Normalization", "config": {"axis": -1, "mean": None, "variance": None, "features": 4, "dtype": "float32"}}
    for (name, b), (_, c) in zip(model.named_buffers(), loaded.named_buffers(), strict=True):
        assert b.value.dtype == c.value.dtype and b.value.shape == c.value.shape, name
        np.testing.assert_array_equal(b.value, c.value, err_msg=name)
    np.testing.assert_array_equal(loaded.predict(x.astype(np.float32)), model.predict(x.astype(np.float32)))


def test_given_statistics_round_trip_through_the_config_in_a_graph(tmp_path: Path) -> None:
    inputs = Input(2)
    model = Model(inputs, Dense(1, seed=0)(Normalization(mean=[3.0, 10.0], variance=[4.0, 0.25])(inputs)))
    loaded = load_model(model.save(tmp_path / "g.safetensors"))
    x = np.array([[1.0, 11.0], [5.0, 9.0]])
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert loaded.get_config() == model.get_config()


def test_an_unadapted_layer_saves_and_loads_unadapted(tmp_path: Path) -> None:
    loaded = load_model(Sequential([Normalization(), Dense(3, 1, seed=0)]).save(tmp_path / "u.safetensors"))
    with pytest.raises(CallOrderError, match=r"Normalization\(axis=-1\): forward\(\) before adapt\(\)"):
        loaded.predict(X)


def test_a_negative_variance_in_the_file_is_refused(tmp_path: Path) -> None:
    path = Sequential([Input(3), adapted(), Dense(3, 1, seed=0)]).save(tmp_path / "v.safetensors")
    with safe_open(str(path), framework="np") as f:
        metadata: dict[str, str] = f.metadata()
    tensors: dict[str, np.ndarray] = safetensors.numpy.load_file(str(path))
    tensors["0.variance"][0] = -1.0
    safetensors.numpy.save_file(tensors, str(path), metadata=metadata)
    with pytest.raises(FormatError, match=r"tensor '0.variance' holds -1.0, below the least value its layer allows"):
        load_model(path)


def test_the_builders_start_with_the_normalization_they_are_given() -> None:
    x = np.random.default_rng(4).normal(8.0, 4.0, (30, 64))
    norm = adapted(x)
    model = four_three_one(64, normalization=norm)
    assert model.layers[0] is norm and model.input_shape == (None, 64)
    assert [repr(layer) for layer in model.layers[1:]] == [repr(layer) for layer in four_three_one(64).layers]
    np.testing.assert_array_equal(model.predict(x), four_three_one(64).predict(norm.forward(x)))
    assert repr(mlp_classifier(64, (8,), classes=3, normalization=adapted(x)).layers[-1]) == "Dense(8 -> 3)"
    with pytest.raises(DTypeError, match=re.escape(
            "mlp_classifier: Normalization(axis=-1, features=64) has float64 statistics, the model float32 parameters: "
            "build it with Normalization(dtype=np.float32)")):
        four_three_one(64, dtype=np.float32, normalization=norm)
    with pytest.raises(ShapeError, match=re.escape(
            "layer 0 Normalization(axis=-1, features=64) does not fit after the input: Normalization(axis=-1, "
            "features=64) expected 64 features on axis -1, got input of shape (1, 32)")):
        four_three_one(32, normalization=norm)
    with pytest.raises(ValueRangeError, match=r"mlp_classifier: classes must be at least 2, got 1"):
        four_three_one(64, classes=1)
