"""What every built-in layer does alike: each backward needs its own forward, float32 stays float32,
errors name the layer and the shapes or dtypes, constructors refuse bad arguments, and the repr and
get_config rebuild the layer through the registry."""

import math
import re
from collections.abc import Callable

import numpy as np
import pytest

from framework import (
    CallOrderError, ConfigError, Dense, DTypeError, FrameworkError, Layer, ReLU, ShapeError, Sigmoid, ValueRangeError,
)
from framework.core.arrays import Array
from framework.core.layer import Merge, Module
from framework.core.node import Input
from framework.core.registry import layer_class
from framework.layers import (
    ELU, Add, BatchNorm, Concatenate, Dropout, Flatten, Identity, LeakyReLU, Multiply, Softmax, Tanh,
)
from tests.helpers.layers import ELEMENT_WISE, X_HAND, Floats, layers_and_upstream, normal


# --- float32 stays float32 --------------------------------------------------------------------------


def test_float32_kept_through_each_layer_forward_and_backward() -> None:
    x = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]], dtype=np.float32)
    dense = Dense(3, 2, seed=0, dtype=np.float32)
    assert dense.W.value.dtype == np.float32 and dense.b.value.dtype == np.float32
    y = dense.forward(x)
    assert y.dtype == np.float32
    assert dense.backward(np.ones((2, 2), dtype=np.float32)).dtype == np.float32
    assert dense.W.grad.dtype == np.float32 and dense.b.grad.dtype == np.float32
    for layer in (ReLU(), Sigmoid()):
        assert layer.forward(x).dtype == np.float32
        assert layer.backward(np.ones_like(x)).dtype == np.float32


@pytest.mark.parametrize("index", [0, 1, 2], ids=["Dense", "ReLU", "Sigmoid"])
def test_backward_before_forward_raises_call_order_error(index: int) -> None:
    layer, upstream = layers_and_upstream()[index]
    with pytest.raises(CallOrderError, match="without a forward") as info:
        layer.backward(upstream)
    assert isinstance(info.value, RuntimeError) and isinstance(info.value, FrameworkError)
    assert repr(layer) in str(info.value)


@pytest.mark.parametrize("index", [0, 1, 2], ids=["Dense", "ReLU", "Sigmoid"])
def test_second_backward_after_one_forward_raises(index: int) -> None:
    layer, upstream = layers_and_upstream()[index]
    layer.forward(X_HAND)
    layer.backward(upstream)
    with pytest.raises(CallOrderError, match=r"each backward needs its own forward"):
        layer.backward(upstream)
    layer.forward(X_HAND)
    assert layer.backward(upstream).shape == X_HAND.shape


SINGLE_INPUT: dict[str, Callable[[], Layer]] = {
    **ELEMENT_WISE, "Flatten": Flatten, "Dropout": lambda: Dropout(0.5, seed=0),
    "BatchNorm": lambda: BatchNorm(3, dtype=np.float32),
}


@pytest.mark.parametrize("name", SINGLE_INPUT)
def test_float32_kept_through_each_layer(name: str) -> None:
    layer = SINGLE_INPUT[name]()
    x = normal(0, (4, 3)).astype(np.float32)
    y = layer.forward(x)
    assert y.dtype == np.float32
    assert layer.backward(np.ones_like(y)).dtype == np.float32
    assert all(p.value.dtype == p.grad.dtype == np.float32 for p in layer.parameters())
    assert all(buffer.value.dtype == np.float32 for _, buffer in layer.named_buffers())


# --- call order -------------------------------------------------------------------------------------

CALLS: dict[str, tuple[Callable[[], Module], list[Floats]]] = {
    **{name: (make, [normal(0, (3, 2))]) for name, make in SINGLE_INPUT.items() if name != "BatchNorm"},
    "BatchNorm": (lambda: BatchNorm(2), [normal(0, (3, 2))]),
    "BatchNorm eval": (lambda: _eval(BatchNorm(2)), [normal(0, (3, 2))]),
    "Dropout eval": (lambda: _eval(Dropout()), [normal(0, (3, 2))]),
    "Add": (Add, [normal(0, (3, 2)), normal(1, (3, 2))]),
    "Multiply": (Multiply, [normal(0, (3, 2)), normal(1, (3, 2))]),
    "Concatenate": (Concatenate, [normal(0, (3, 2)), normal(1, (3, 1))]),
}


def _eval(layer: Module) -> Module:
    layer.training = False
    return layer


def run(layer: Module, xs: list[Floats]) -> Array:
    if isinstance(layer, Merge):
        return layer.forward(xs)
    assert isinstance(layer, Layer)
    return layer.forward(xs[0])


def backward(layer: Module, grad: Array) -> None:
    assert isinstance(layer, Merge | Layer)
    layer.backward(grad)


@pytest.mark.parametrize("name", CALLS)
def test_backward_needs_its_own_forward(name: str) -> None:
    make, xs = CALLS[name]
    layer = make()
    with pytest.raises(CallOrderError, match="without a forward"):
        backward(layer, np.ones((3, 2)))
    y = run(layer, xs)
    backward(layer, np.ones_like(y))
    with pytest.raises(CallOrderError, match=r"each backward needs its own forward") as info:
        backward(layer, np.ones_like(y))
    assert repr(layer) in str(info.value)


@pytest.mark.parametrize("name", CALLS)
def test_backward_with_a_wrong_gradient_shape_raises(name: str) -> None:
    make, xs = CALLS[name]
    layer = make()
    run(layer, xs)
    with pytest.raises(ShapeError, match=r"backward expected a gradient of shape"):
        backward(layer, np.ones((4, 7)))


# --- errors ----------------------------------------------------------------------------------------


def test_shape_errors_name_the_layer_and_the_shapes() -> None:
    with pytest.raises(ShapeError, match=r"Flatten\(\) expected input of shape \(batch, \.\.\.\) .*got \(6,\)"):
        Flatten().forward(np.ones(6))
    with pytest.raises(ShapeError, match=r"Softmax\(axis=2\) expected an input with an axis 2, got shape \(4, 3\)"):
        Softmax(axis=2).forward(np.ones((4, 3)))
    with pytest.raises(ShapeError, match=r"BatchNorm\(features=3.*\) expected input of shape \(batch, 3\), got \(4, 2"):
        BatchNorm(3).forward(np.ones((4, 2)))
    with pytest.raises(ShapeError, match=r"BatchNorm\(features=None.*\) expected input of shape \(batch, features\)"):
        BatchNorm().forward(np.ones((4, 2, 2)))


def test_dtype_errors_name_the_layer_and_the_dtypes() -> None:
    with pytest.raises(DTypeError, match=r"BatchNorm\(features=2.*\) has float64 parameters but got a float32 input"):
        BatchNorm(2).forward(np.ones((3, 2), dtype=np.float32))
    with pytest.raises(DTypeError, match=r"BatchNorm\(features=2.*\) expected a float input, got int64"):
        BatchNorm(2).forward(np.ones((3, 2), dtype=np.int64))
    with pytest.raises(DTypeError, match=r"Dropout\(rate=0.5\) expected a float input, got int64"):
        Dropout().forward(np.ones((3, 2), dtype=np.int64))
    with pytest.raises(DTypeError, match=r"Add\(\) expected float inputs of one dtype, got float32, float64"):
        Add().forward([np.ones((3, 2), dtype=np.float32), np.ones((3, 2))])


def test_constructors_refuse_out_of_range_arguments() -> None:
    cases: list[tuple[Callable[[], Module], str]] = [
        (lambda: Dropout(1.0), r"Dropout: rate=1.0 is out of range, expected 0 <= rate < 1"),
        (lambda: Dropout(-0.1), r"Dropout: rate=-0.1"),
        (lambda: LeakyReLU(alpha=-1.0), r"LeakyReLU: alpha=-1.0 is out of range"),
        (lambda: ELU(alpha=math.inf), r"ELU: alpha=inf is out of range"),
        (lambda: BatchNorm(2, momentum=1.5), r"BatchNorm: momentum=1.5 is out of range"),
        (lambda: BatchNorm(2, eps=0.0), r"BatchNorm: eps=0.0 is out of range"),
        (lambda: Concatenate(axis=0), r"Concatenate: axis=0 would join the samples of the batch"),
    ]
    for make, message in cases:
        with pytest.raises(ValueRangeError, match=message):
            make()
    with pytest.raises(ShapeError, match=r"features >= 1, got \(1, 0\)"):
        BatchNorm(0)
    with pytest.raises(DTypeError, match="float32 or float64"):
        BatchNorm(2, dtype=np.int32)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Softmax(axis=1.0), "Softmax: axis must be a whole number, got 1.0"),  # type: ignore[arg-type]
        (lambda: Concatenate(axis=True), "Concatenate: axis must be a whole number, got True"),
        (lambda: Dropout(0.5, seed=0.5), "Dropout: seed must be a whole number, got 0.5"),  # type: ignore[arg-type]
        (lambda: BatchNorm(2.0), "BatchNorm: features must be a whole number, got 2.0"),  # type: ignore[arg-type]
        (lambda: Dense(3, 2, seed="0"), "Dense: seed must be a whole number, got '0'"),  # type: ignore[arg-type]
    ],
    ids=["softmax-axis", "concatenate-axis", "dropout-seed", "batchnorm-features", "dense-seed"],
)
def test_sizes_axes_and_seeds_must_be_whole_numbers_numpy_ones_included(make: Callable[[], Module], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        make()


def test_numpy_integers_are_taken_as_ints() -> None:
    layers = [Softmax(axis=np.int64(0)), Concatenate(axis=np.int32(1)), Dropout(np.float64(0.5), seed=np.uint8(3)),
              BatchNorm(np.int64(2), momentum=np.float32(0.5)), Dense(np.int16(3), np.int64(2), seed=np.int64(0))]
    assert [layer.get_config() for layer in layers] == [
        {"axis": 0}, {"axis": 1}, {"rate": 0.5, "seed": 3},
        {"features": 2, "momentum": 0.5, "eps": 1e-5, "dtype": "float64"},
        {"in_features": 3, "out_features": 2, "init": "he", "dtype": "float64"},
    ]
    assert all(type(value) in (int, float, str) for layer in layers for value in layer.get_config().values())
    assert Input(np.int64(3)).shape == (None, 3) and Input([np.int32(2), 4]).shape == (None, 2, 4)
    for size in (0, [2, 0], ()):
        with pytest.raises(ShapeError, match=re.escape(f"Input needs positive feature sizes, got {size!r}")):
            Input(size)
    not_whole: list[tuple[object, str]] = [(3.0, "3.0"), (np.float64(3.0), "np.float64(3.0)"), (np.array(3), "array(3)"),
                                           ("3", "'3'"), ([2, 3.5], "[2, 3.5]")]
    for bad, shown in not_whole:
        with pytest.raises(ConfigError, match=re.escape(f"Input: feature sizes must be whole numbers, got {shown}")):
            Input(bad)  # type: ignore[arg-type]


# --- configs, reprs, registry ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "layer, text",
    [
        (Tanh(), "Tanh()"), (LeakyReLU(), "LeakyReLU(alpha=0.01)"), (ELU(), "ELU(alpha=1.0)"),
        (Softmax(), "Softmax(axis=-1)"), (Identity(), "Identity()"), (Flatten(), "Flatten()"),
        (Dropout(), "Dropout(rate=0.5)"), (Dropout(0.2, seed=3), "Dropout(rate=0.2, seed=3)"),
        (BatchNorm(4), "BatchNorm(features=4, momentum=0.1, eps=1e-05)"),
        (BatchNorm(momentum=0.2, eps=1e-3, dtype=np.float32), "BatchNorm(features=None, momentum=0.2, eps=0.001)"),
        (Add(), "Add()"), (Multiply(), "Multiply()"), (Concatenate(axis=2), "Concatenate(axis=2)"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_repr_shows_the_configuration_and_get_config_rebuilds_the_layer(layer: Module, text: str) -> None:
    assert repr(layer) == text
    config = layer.get_config()
    make: Callable[..., Module] = layer_class(type(layer).__name__)
    rebuilt = make(**config)
    assert type(rebuilt) is type(layer) and rebuilt.get_config() == config and repr(rebuilt) == text
