"""Fuzzing every public entry point with random shapes, dtypes and values (over 2,000 examples a run).

Each call either succeeds, and then returns a float result that is finite wherever the input was
finite and in range, or raises a `FrameworkError`: never another exception, never a numpy warning
(`attempt` turns warnings into errors, as pytest's filterwarnings=error does), never a hang (every
array is tiny). Each test varies one thing (dtypes, shapes, values, call order, file bytes), so that
a failing test names the kind of bad input that broke. The `@example`s are inputs that
once broke the framework: they run on every run, whatever Hypothesis draws around them.
"""

import json
import math
import struct
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, TypeAlias, TypeVar

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from framework import (
    ELU, GELU, LayerNorm, Softplus, Swish, Add, BatchNorm, BCELoss, BCEWithLogitsLoss, CallOrderError, Concatenate, CrossEntropyLoss, Dense,
    Dropout, Flatten, FrameworkError, GradCheckReport, Identity, Input, Layer, LeakyReLU, Loss, Merge, Model,
    MSELoss, Multiply, ReLU, Sequential, Sigmoid, Softmax, Tanh, check_gradients, check_layer, load_model,
)
from framework.gradcheck.numeric import Method, Mode
from framework.training.optimizers import SGD, Adam, Optimizer, RMSprop
from framework.containers.base import Container

AnyArray: TypeAlias = npt.NDArray[Any]
Shape: TypeAlias = tuple[int, ...]
Values: TypeAlias = Literal["moderate", "huge", "any"]
T = TypeVar("T")

METHODS: list[Method] = ["complex", "central"]
MODES: list[Mode] = ["full", "sampled", "directional"]
BIG = np.finfo(np.float64).max


def fuzz(max_examples: int, *, uses_tmp_path: bool = False) -> settings:
    """The project's profile with `max_examples`, stopping at the first bug: a failing test shows one
    minimal example, and fails until every bug it finds is fixed. A test that writes into `tmp_path`
    overwrites one file each example, so sharing the fixture between examples is fine."""
    return settings(max_examples=max_examples, report_multiple_bugs=False,
                    phases=[phase for phase in Phase if phase != Phase.explain],  # explaining traces every line: slow
                    suppress_health_check=[HealthCheck.function_scoped_fixture] if uses_tmp_path else [])


# --- what a call may do ----------------------------------------------------------------------------


def attempt(call: Callable[[], T], *, warnings_fail: bool = True) -> T | None:
    """The call's result, or None when it raised a FrameworkError. Any other exception, and any
    warning (raised here as an error, unless not `warnings_fail`), propagates and fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("error" if warnings_fail else "ignore")
        try:
            return call()
        except FrameworkError:
            return None


def is_finite(*arrays: AnyArray) -> bool:
    return all(a.dtype.kind in "biufc" and bool(np.all(np.isfinite(a))) for a in arrays)


def in_range(*arrays: AnyArray) -> bool:
    """Every entry finite and at most 1e6 in magnitude: where every layer's output is finite."""
    return is_finite(*arrays) and all(a.size == 0 or float(np.max(np.abs(a.astype(np.complex128)))) <= 1e6
                                      for a in arrays)


def check_result(out: object, *, finite: bool, what: str = "the output") -> AnyArray:
    """`out` as an array, after checking that it is a float array, finite when `finite`."""
    a = np.asarray(out)
    assert a.dtype.kind in "fc", f"{what} is a {a.dtype} array: a non-float input should raise a DTypeError"
    if finite:
        assert np.all(np.isfinite(a)), f"{what} is not finite although the input was finite and in range: {a}"
    return a


# --- arrays ------------------------------------------------------------------------------------------

FLOATS = ["float16", "float32", "float64"]
DTYPES = ["int64", "bool", "object", "str", "complex128", "uint8", "int8", "complex64", *FLOATS]
"""The usual mistakes first: Hypothesis draws early entries more often, and shrinks towards the first."""
MODERATE = [0.0, 1.0, -1.0, 0.5, -2.5, 7.75, -8.0, 1e-3, 3.25, -0.0, 2.0, -0.125]
"""Values every layer maps to finite ones. (Drawing from a list is three times faster than drawing
floats, which leaves room for more examples.)"""
HUGE = {"float16": 6e4, "float32": 1e38}
"""A round number near the top of a narrow float's range; 1e300 for float64."""
VALUES: list[Values] = ["huge", "any", "moderate"]
EXTREME: list[Values] = ["huge", "any"]
SPECIALS: dict[Values, list[str]] = {
    "moderate": [], "huge": ["huge", "-huge", "max", "-max", "tiny", "-tiny"],
    "any": ["nan", "inf", "-inf", "huge", "-huge", "max", "-max", "tiny", "-tiny"],
}


def special(name: str, dtype: str) -> float:
    """±1e300 (or HUGE), ±the largest and ±the smallest normal float of `dtype`, NaN or ±inf."""
    info = np.finfo(np.dtype(dtype) if np.dtype(dtype).kind in "fc" else np.float64)
    magnitude = {"nan": math.nan, "inf": math.inf, "huge": HUGE.get(info.dtype.name, 1e300), "max": float(info.max),
                 "tiny": float(info.tiny)}[name.lstrip("-")]
    return -magnitude if name.startswith("-") else magnitude


def as_dtype(a: AnyArray, dtype: str) -> AnyArray:
    """Float values as an array of `dtype`: strings for str, Python floats for object, 0/1 for bool,
    integers (non-negative for unsigned ones, 0 for NaN and inf) for the integer dtypes; floats out
    of the dtype's range become ±inf."""
    kind = np.dtype(dtype).kind
    if kind == "U":
        return a.astype(str)
    if kind == "b":
        return np.asarray(a > 0)
    if kind in "iu":
        info = np.iinfo(np.dtype(dtype))
        finite = np.where(np.isfinite(a), np.abs(a) if kind == "u" else a, 0.0)
        return np.asarray(np.clip(finite, max(int(info.min), -(2**53)), min(int(info.max), 2**53))).astype(dtype)
    with np.errstate(over="ignore"):
        return a.astype(object if kind == "O" else dtype)


def filled(shape: Shape, dtype: str = "float64") -> AnyArray:
    """An array of `shape` holding MODERATE's values over and over, as `dtype`."""
    return as_dtype(np.resize(np.array(MODERATE), shape), dtype)


@st.composite
def arrays(draw: st.DrawFn, shape: Shape, dtype: str = "float64", values: Values = "moderate") -> AnyArray:
    """An array of `shape` and `dtype` (a name from DTYPES), with entries from MODERATE; with "huge"
    also ±1e300, the largest and the smallest floats; with "any" also NaN and ±inf."""
    base = dtype if np.dtype(dtype).kind in "fc" else "float64"
    entries = draw(st.lists(st.sampled_from([*MODERATE, *SPECIALS[values]]), min_size=math.prod(shape),
                            max_size=math.prod(shape)))
    floats = np.array([special(v, base) if isinstance(v, str) else v for v in entries], dtype=np.float64)
    return as_dtype(floats.reshape(shape), dtype)


def shapes(features: int) -> st.SearchStrategy[Shape]:
    """The (batch, features) shape, and the usual mistakes: transposed, a feature too many or too
    few, 1-D, 0-D, 3-D, an empty batch, no features; or any small shape."""
    def cases(batch: int) -> st.SearchStrategy[Shape]:
        return st.sampled_from([
            (batch, features), (features, batch), (batch, features + 1), (batch, features - 1), (features,), (),
            (batch, features, 2), (1, batch, features), (0, features), (batch, 0),
        ])
    return st.integers(1, 4).flatmap(cases) | hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3)


def batches(features: int, dtype: str = "float64", values: Values = "moderate") -> st.SearchStrategy[AnyArray]:
    """Well-shaped (batch, features) arrays."""
    return st.integers(1, 4).flatmap(lambda batch: arrays((batch, features), dtype, values))


GRADIENT_SHAPES = ["right"] * 4 + ["transposed", "0-d", "1-d", "extra axis"]


def gradient_shape(out: Shape, kind: str) -> Shape:
    """The output's shape, or a wrong one."""
    return {"right": out, "transposed": out[::-1], "0-d": (), "1-d": out[:1], "extra axis": (*out, 1)}[kind]


# --- single-input layers -----------------------------------------------------------------------------

FEATURES = 3
LAYERS: dict[str, Callable[[], Layer]] = {
    "Dense": lambda: Dense(FEATURES, 2, seed=0),
    "Dense-float32": lambda: Dense(FEATURES, 2, seed=0, dtype=np.float32),
    "Dense-lazy": lambda: Dense(2, seed=0),
    "ReLU": ReLU,
    "Sigmoid": Sigmoid,
    "Tanh": Tanh,
    "LeakyReLU": lambda: LeakyReLU(0.2),
    "ELU": ELU,
    "Softmax": Softmax,
    "Flatten": Flatten,
    "Identity": Identity,
    "Dropout": lambda: Dropout(0.5, seed=0),
    "BatchNorm": lambda: BatchNorm(FEATURES),
    "BatchNorm-lazy": BatchNorm,
    "GELU": GELU,
    "GELU-tanh": lambda: GELU(approximate="tanh"),
    "Swish": Swish,
    "Softplus": Softplus,
    "LayerNorm": LayerNorm,
}
BOUNDED = {"ReLU", "Sigmoid", "Tanh", "LeakyReLU", "ELU", "Softmax", "Flatten", "Identity", "GELU", "GELU-tanh", "Swish",
           "Softplus"}
"""Layers whose output, and whose dL/dx for a finite gradient, is finite for any finite input."""


def layer_dtype(name: str) -> str:
    return "float32" if name.endswith("float32") else "float64"


def make_layer(name: str, training: bool) -> Layer:
    layer = LAYERS[name]()
    layer.training = training
    return layer


def forward_and_backward(layer: Layer, x: AnyArray) -> tuple[AnyArray, AnyArray] | None:
    """Forward, then backward with a gradient of ones (not after a complex input: that is the
    gradient checker's business); None if either raised a FrameworkError."""
    def run() -> tuple[AnyArray, AnyArray]:
        out = layer.forward(x)
        return out, out if x.dtype.kind == "c" else layer.backward(np.ones(np.shape(out)))
    return attempt(run)


@pytest.mark.parametrize("name", LAYERS)
@fuzz(25)
@given(batch=st.integers(1, 4), dtype=st.sampled_from(DTYPES), training=st.booleans())
@example(batch=2, dtype="int64", training=True)
@example(batch=2, dtype="bool", training=True)
@example(batch=2, dtype="object", training=True)
@example(batch=2, dtype="str", training=True)
@example(batch=2, dtype="uint8", training=True)
def test_layer_refuses_or_handles_every_dtype(name: str, batch: int, dtype: str, training: bool) -> None:
    x = filled((batch, FEATURES), dtype)
    result = forward_and_backward(make_layer(name, training), x)
    if result is not None:
        out, dx = result
        check_result(out, finite=in_range(x))
        check_result(dx, finite=in_range(x), what="dL/dx")


@pytest.mark.parametrize("name", LAYERS)
@fuzz(25)
@given(shape=shapes(FEATURES), training=st.booleans())
@example(shape=(), training=True)
@example(shape=(FEATURES,), training=True)
@example(shape=(2, 0), training=True)
@example(shape=(0, FEATURES), training=True)
@example(shape=(2, FEATURES, 4), training=True)
def test_layer_refuses_or_handles_every_shape(name: str, shape: Shape, training: bool) -> None:
    """Also: an input that no (batch, features) layer can take leaves a layer that waits for its
    input shape unbuilt."""
    layer = make_layer(name, training)
    result = forward_and_backward(layer, filled(shape, layer_dtype(name)))
    if result is None:
        built = getattr(layer, "in_features", getattr(layer, "features", None))
        if name.endswith("lazy") and (len(shape) != 2 or shape[1] == 0):
            assert built is None, f"{layer!r} refused an input of shape {shape} but was built by it"
        return
    out, dx = result
    check_result(out, finite=True)
    assert check_result(dx, finite=True, what="dL/dx").shape == shape


@pytest.mark.parametrize("name", LAYERS)
@fuzz(25)
@given(x=st.sampled_from(["float64", "float32", "float16"]).flatmap(lambda d: batches(FEATURES, d, "any")),
       training=st.booleans())
@example(x=np.array([[1e300, -1e300, 2.0], [-1e300, 1.0, 1e300]]), training=True)
@example(x=np.array([[BIG, -BIG, 2.0], [BIG, BIG, -1.0]]), training=True)
@example(x=np.array([[np.inf, -np.inf, 1.0], [np.inf, 0.0, 2.0]]), training=False)
@example(x=np.array([[3e38, -3e38, 1.0], [3e38, 3e38, 0.0]], dtype=np.float32), training=True)
def test_layer_handles_nan_inf_and_huge_inputs(name: str, x: AnyArray, training: bool) -> None:
    if name not in BOUNDED:
        x = as_dtype(x, layer_dtype(name))
    result = forward_and_backward(make_layer(name, training), x)
    if result is not None:
        check_result(result[0], finite=in_range(x) or (name in BOUNDED and is_finite(x)))


@pytest.mark.parametrize("name", LAYERS)
@fuzz(25)
@given(dtype=st.sampled_from(DTYPES), shape=st.sampled_from(GRADIENT_SHAPES), training=st.booleans())
@example(dtype="complex128", shape="right", training=True)
@example(dtype="object", shape="right", training=True)
@example(dtype="str", shape="right", training=True)
@example(dtype="int64", shape="right", training=False)
@example(dtype="bool", shape="right", training=True)
def test_layer_backward_refuses_or_handles_every_gradient_dtype(
    name: str, dtype: str, shape: str, training: bool
) -> None:
    layer = make_layer(name, training)
    x = filled((2, FEATURES), layer_dtype(name))
    grad = filled(gradient_shape(layer.forward(x).shape, shape), dtype)
    dx = attempt(lambda: layer.backward(grad))
    if dx is not None:
        assert check_result(dx, finite=in_range(grad), what="dL/dx").shape == x.shape


@pytest.mark.parametrize("name", LAYERS)
@fuzz(25)
@given(pattern=arrays((4, FEATURES), values="any"), training=st.booleans())
@example(pattern=np.full((4, FEATURES), BIG), training=True)
@example(pattern=np.full((4, FEATURES), 1e300), training=True)
@example(pattern=np.array([[np.inf, -np.inf, 1.0]] * 4), training=False)
def test_layer_backward_handles_nan_inf_and_huge_gradients(name: str, pattern: AnyArray, training: bool) -> None:
    layer = make_layer(name, training)
    out = layer.forward(filled((2, FEATURES), layer_dtype(name)))
    grad = as_dtype(np.resize(pattern, out.shape), str(out.dtype))
    dx = attempt(lambda: layer.backward(grad))
    if dx is not None:
        check_result(dx, finite=in_range(grad) or (name in BOUNDED and is_finite(grad)), what="dL/dx")


# --- merge layers --------------------------------------------------------------------------------

MERGES: dict[str, Callable[[], Merge]] = {"Add": Add, "Multiply": Multiply, "Concatenate": Concatenate}


@st.composite
def merge_inputs(draw: st.DrawFn) -> list[AnyArray]:
    """0 to 4 arrays, mostly two or three of one shape and one float dtype, with any values."""
    base = draw(st.sampled_from([(2, 3), (3, 2), (1, 3), (2, 3, 2), (0, 3), (3,), ()]))
    dtype = draw(st.sampled_from(["float64", "float32", *DTYPES]))
    values: Values = draw(st.sampled_from(VALUES))
    shape = st.sampled_from([base] * 4) | hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3)
    return [draw(arrays(draw(shape), draw(st.sampled_from([dtype] * 4 + DTYPES)), values))
            for _ in range(draw(st.sampled_from([2, 3, 2, 0, 1, 4])))]


@pytest.mark.parametrize("name", MERGES)
@fuzz(60)
@given(xs=merge_inputs())
@example(xs=[np.full((2, 3), 1e300), np.full((2, 3), -1e300)])
@example(xs=[np.full((1, 2), BIG), np.full((1, 2), BIG)])
@example(xs=[np.array([[np.inf, 0.0]]), np.array([[0.0, np.inf]])])
def test_merge_refuses_or_handles_any_list_of_inputs(name: str, xs: list[AnyArray]) -> None:
    merge = MERGES[name]()

    def run() -> tuple[AnyArray, list[AnyArray]]:
        out = merge.forward(xs)
        return out, merge.backward(np.ones_like(out))

    result = attempt(run)
    if result is not None:
        out, dxs = result
        check_result(out, finite=in_range(*xs))
        assert [dx.shape for dx in dxs] == [x.shape for x in xs]


@pytest.mark.parametrize("name", MERGES)
@fuzz(30)
@given(count=st.integers(2, 3), dtype=st.sampled_from(DTYPES), shape=st.sampled_from(GRADIENT_SHAPES))
@example(count=2, dtype="int64", shape="right")
@example(count=2, dtype="object", shape="right")
@example(count=2, dtype="str", shape="right")
def test_merge_backward_refuses_or_handles_every_gradient_dtype(name: str, count: int, dtype: str, shape: str) -> None:
    xs = [filled((2, 3)) for _ in range(count)]
    merge = MERGES[name]()
    grad = filled(gradient_shape(merge.forward(xs).shape, shape), dtype)
    dxs = attempt(lambda: merge.backward(grad))
    if dxs is not None:
        for dx, x in zip(dxs, xs, strict=True):
            assert check_result(dx, finite=in_range(grad), what="dL/dx").shape == x.shape


# --- losses --------------------------------------------------------------------------------------

LOSSES: dict[str, Callable[[], Loss]] = {
    "BCELoss": BCELoss, "BCEWithLogitsLoss": BCEWithLogitsLoss, "CrossEntropyLoss": CrossEntropyLoss,
    "MSELoss": MSELoss,
}


@st.composite
def labels_for(draw: st.DrawFn, y_pred: AnyArray) -> AnyArray:
    """Labels that fit y_pred (0/1, probabilities, class indices, one-hot rows) or that do not
    (outside [0, 1], negative or too large class indices, another shape or dtype, NaN)."""
    shape = y_pred.shape
    batch = shape[0] if shape else 1
    classes = shape[1] if len(shape) > 1 else 1
    kind = draw(st.sampled_from(["binary", "probability", "index", "one-hot" if classes else "index", "any"]))
    if kind == "binary":
        zeros_and_ones = (draw(arrays(shape)) > 0).astype(np.float64)
        return as_dtype(zeros_and_ones, draw(st.sampled_from(["float64", "float32", "int64", "bool"])))
    if kind == "probability":  # in [0, 1], or shifted out of it
        return np.asarray(draw(arrays(shape)) / 16 + 0.5 + draw(st.sampled_from([0, 0, 1, -1])))
    if kind == "index":
        dtype = draw(st.sampled_from(["int64", "int8", "uint8", "float64"]))
        lowest = 0 if dtype == "uint8" else -2
        return np.array(draw(st.lists(st.integers(lowest, classes + 1), min_size=batch, max_size=batch)), dtype=dtype)
    if kind == "one-hot":
        return np.eye(classes)[draw(st.lists(st.integers(0, classes - 1), min_size=batch, max_size=batch))]
    dtype = draw(st.sampled_from(DTYPES))
    return draw(shapes(classes).flatmap(lambda s: arrays(s, dtype, "any")))


@st.composite
def predictions_and_labels(draw: st.DrawFn) -> tuple[AnyArray, AnyArray]:
    """y_pred of any shape, dtype and values (probabilities in [0, 1] half the time), and labels."""
    shape = draw(st.sampled_from([(3, 2), (2, 1), (3,), (), (2, 2, 2), (0, 2), (2, 0)]) | shapes(2))
    y_pred = draw(arrays(shape, draw(st.sampled_from([*FLOATS, "complex128", *DTYPES])),
                         draw(st.sampled_from(VALUES))))
    if y_pred.dtype.kind in "fc" and draw(st.booleans()):
        with np.errstate(all="ignore"):  # complex inf / 16 is NaN, with a warning
            y_pred = np.asarray(y_pred / 16 + 0.5)
    return y_pred, draw(labels_for(y_pred))


@pytest.mark.parametrize("name", LOSSES)
@fuzz(75)
@given(case=predictions_and_labels())
@example(case=(np.array(0.5), np.array(1.0)))
@example(case=(np.array([[1e300 + 0j], [2.0]]), np.array([[0.0], [1.0]])))
def test_loss_refuses_or_handles_any_prediction_and_labels(name: str, case: tuple[AnyArray, AnyArray]) -> None:
    """Also: backward follows its forward once, and only once."""
    y_pred, y_true = case
    loss = LOSSES[name]()
    cost = attempt(lambda: loss.forward(y_pred, y_true))
    if cost is None:
        return
    assert math.isfinite(abs(cost)), f"{loss!r} returned a cost of {cost}"
    grad = attempt(loss.backward)
    assert grad is not None, "backward after a successful forward raised"
    assert check_result(grad, finite=True, what="dL/dy_pred").shape == y_pred.shape
    with pytest.raises(CallOrderError):
        loss.backward()


# --- call order --------------------------------------------------------------------------------------

X = np.linspace(-1, 1, 6).reshape(2, 3)
P = np.array([[0.2], [0.7]])
ORDERED: dict[str, tuple[Callable[[], Layer | Merge | Loss], AnyArray, list[AnyArray]]] = {
    "Dense": (lambda: Dense(3, 2, seed=0), X, [np.ones((2, 4)), X.astype(np.float32), X.T, X[0]]),
    "BatchNorm": (lambda: BatchNorm(3), X, [np.ones((2, 4)), X.astype(np.int64), X[:1]]),
    "ReLU": (ReLU, X, [X.astype(np.int64), X[:0]]),
    "Softmax": (Softmax, X, [np.array(1.0)]),
    "Flatten": (Flatten, X, [X[0]]),
    "Dropout": (lambda: Dropout(0.5, seed=0), X, [X.astype(np.int64), X.astype(str)]),
    "Add": (Add, X, [X[:1], X.astype(np.float32)]),
    "Concatenate": (Concatenate, X, [X[0], X.astype(np.int64)]),
    "BCELoss": (BCELoss, P, [P * 2, np.full((2, 1), np.nan), P.T]),
    "MSELoss": (MSELoss, X, [np.full((2, 3), np.inf), X.T, X.astype(str)]),
    "CrossEntropyLoss": (CrossEntropyLoss, X, [X[:, :1], np.full((2, 3), np.nan), np.full((2, 2), 0.5)]),
}
"""Each layer or loss that refuses some inputs: how to make it, a good input, inputs it refuses
(a merge layer gets [good, input]; a loss gets labels that fit the good input)."""
Step: TypeAlias = tuple[Literal["forward", "refused forward", "backward"], int]


@pytest.mark.parametrize("name", ORDERED)
@fuzz(25)
@given(steps=st.lists(st.tuples(st.sampled_from(["forward", "refused forward", "backward"]), st.integers(0, 3)),
                      max_size=8))
@example(steps=[("backward", 0)])
@example(steps=[("forward", 0), ("backward", 0), ("backward", 0)])
@example(steps=[("forward", 0), ("refused forward", 0), ("backward", 0)])
def test_backward_needs_its_own_successful_forward(name: str, steps: list[Step]) -> None:
    """A backward right after a successful forward works; any other (before any forward, a second
    one, one after a forward that was refused) raises a CallOrderError rather than returning the
    gradient of an earlier call."""
    make, good, refused = ORDERED[name]
    subject = make()
    labels = {"BCELoss": np.array([[0.0], [1.0]]), "CrossEntropyLoss": np.array([0, 2])}.get(name, np.zeros_like(good))
    out_shape = {"Dense": (2, 2), "Concatenate": (2, 6)}.get(name, good.shape)

    def forward(a: AnyArray) -> object:
        if isinstance(subject, Loss):
            return subject.forward(a, labels)
        return subject.forward([good, a]) if isinstance(subject, Merge) else subject.forward(a)

    def backward() -> object:
        return subject.backward() if isinstance(subject, Loss) else subject.backward(np.ones(out_shape))

    ready = False
    for step, which in steps:
        if step == "forward":
            forward(good)
            ready = True
        elif step == "refused forward":
            with pytest.raises(FrameworkError):
                forward(refused[which % len(refused)])
            ready = False
        elif ready:
            backward()
            ready = False
        else:
            with pytest.raises(CallOrderError):
                backward()


# --- Sequential -------------------------------------------------------------------------------------

Labeller: TypeAlias = Callable[[int], st.SearchStrategy[AnyArray]]


def binary(dtype: str) -> Labeller:
    return lambda m: arrays((m, 1), dtype).map(lambda y: (y > 0).astype(dtype))


ARCHITECTURES: dict[str, tuple[Callable[[], Sequential], Callable[[], Loss], Labeller, list[str]]] = {
    "tanh-sigmoid-bce": (
        lambda: Sequential([Dense(3, 4, seed=0), Tanh(), Dense(4, 1, seed=1), Sigmoid()]), BCELoss, binary("float64"),
        ["accuracy"],
    ),
    "relu-mse": (
        lambda: Sequential([Dense(3, 4, seed=0), ReLU(), Dense(4, 2, seed=1)]), MSELoss,
        lambda m: arrays((m, 2)), [],
    ),
    "batchnorm-dropout-cross-entropy": (
        lambda: Sequential([Input(3), Dense(4, seed=0), BatchNorm(), ELU(), Dropout(0.25, seed=0), Dense(3, seed=1)]),
        CrossEntropyLoss, lambda m: st.lists(st.integers(0, 2), min_size=m, max_size=m).map(np.array), ["accuracy"],
    ),
    "leaky-logits-bce-float32": (
        lambda: Sequential([Dense(3, 3, seed=0, dtype=np.float32), LeakyReLU(), Dense(3, 1, seed=1, dtype=np.float32)]),
        BCEWithLogitsLoss, binary("float32"), ["accuracy"],
    ),
}
"""Each model, its loss, labels that fit it, and its metrics."""
OPTIMIZERS: dict[str, Callable[[], Optimizer]] = {"SGD": lambda: SGD(lr=0.1, momentum=0.9), "Adam": Adam,
                                                  "RMSprop": RMSprop}

Run: TypeAlias = tuple[str, str, str, int, AnyArray, AnyArray]
"""A model (a key of ARCHITECTURES), a method, an optimizer, a batch size, x and y."""


@st.composite
def runs(draw: st.DrawFn) -> Run:
    """Any model and method, with x of any shape, dtype (mostly the model's) and values, and labels
    that fit it or labels of any kind."""
    name = draw(st.sampled_from(sorted(ARCHITECTURES)))
    dtype = "float32" if name.endswith("float32") else "float64"
    shape = draw(st.integers(1, 4).map(lambda batch: (batch, 3)) | shapes(3))
    x = draw(arrays(shape, draw(st.sampled_from([dtype] * 6 + DTYPES)), draw(st.sampled_from(VALUES))))
    y_dtype = draw(st.sampled_from(DTYPES))
    labels = ARCHITECTURES[name][2](max(shape[0] if shape else 1, 1))
    y = draw(labels | shapes(1).flatmap(lambda s: arrays(s, y_dtype, "any")))
    return (name, draw(st.sampled_from(["fit", "predict", "evaluate", "forward"])), draw(st.sampled_from(sorted(OPTIMIZERS))),
            draw(st.sampled_from([32, 1, 2, 3])), x, y)


@fuzz(200)
@given(run=runs())
@example(run=("relu-mse", "fit", "Adam", 2, np.resize([1e150, -1e150, 2.0], (4, 3)), np.zeros((4, 2))))
@example(run=("batchnorm-dropout-cross-entropy", "fit", "SGD", 32, np.resize([1e300, -1e300, 2.0], (4, 3)),
              np.array([0, 1, 2, 0])))
@example(run=("tanh-sigmoid-bce", "predict", "SGD", 32, np.full((2, 3), BIG), np.zeros((2, 1))))
def test_sequential_refuses_or_handles_any_data(run: Run) -> None:
    """Also: a fit that returns leaves finite weights (a diverging one raises a NonFiniteError)."""
    name, method, optimizer, batch_size, x, y = run
    make, loss, _, metrics = ARCHITECTURES[name]
    model = make()
    model.compile(loss=loss(), optimizer=OPTIMIZERS[optimizer](), metrics=metrics)
    calls: dict[str, Callable[[], object]] = {
        "forward": lambda: model.forward(x),
        "predict": lambda: model.predict(x, batch_size=batch_size),
        "evaluate": lambda: model.evaluate(x, y, batch_size=batch_size),
        "fit": lambda: model.fit(x, y, epochs=1, batch_size=batch_size, verbose=0, seed=0),
    }
    result = attempt(calls[method])
    if isinstance(result, dict):
        assert all(math.isfinite(v) for v in result.values()), f"evaluate gave {result}"
    elif isinstance(result, np.ndarray):
        check_result(result, finite=in_range(x))
    for p in model.parameters():
        assert np.all(np.isfinite(p.value)), f"{method} left non-finite weights in {p.name} without an error"


# --- graph Model ---------------------------------------------------------------------------------------


def graph() -> Model:
    """Two inputs through Dense, Tanh, Add, Multiply and Concatenate to one sigmoid output."""
    a, b = Input(3, name="a"), Input(3, name="b")
    h = Add()([Dense(3, 3, seed=0)(a), Tanh()(b)])
    out = Dense(6, 1, seed=1)(Concatenate()([h, Multiply()([h, b])]))
    return Model([a, b], Sigmoid()(out))


@st.composite
def graph_inputs(draw: st.DrawFn) -> tuple[str, list[AnyArray], AnyArray]:
    """A method, 0 to 3 inputs (two fit the graph) of any shape, dtype and values, and labels."""
    batch = draw(st.integers(1, 3))
    shape = st.sampled_from([(batch, 3), (batch, 3), (3, batch), (batch,), (0, 3), (batch, 4)])
    xs = [draw(arrays(draw(shape), draw(st.sampled_from(["float64"] * 3 + DTYPES)), draw(st.sampled_from(VALUES))))
          for _ in range(draw(st.sampled_from([2, 0, 1, 3])))]
    y = (draw(arrays(draw(st.sampled_from([(batch, 1), (batch,), (batch + 1, 1)])))) > 0) * 1.0
    return draw(st.sampled_from(["forward", "predict", "evaluate", "fit"])), xs, y


@fuzz(100)
@given(case=graph_inputs())
@example(case=("predict", [], np.zeros((2, 1))))
@example(case=("forward", [np.full((2, 3), 1e300), np.full((2, 3), 1e300)], np.zeros((2, 1))))
def test_graph_model_refuses_or_handles_any_inputs(case: tuple[str, list[AnyArray], AnyArray]) -> None:
    method, xs, y = case
    model = graph()
    model.compile(loss=BCELoss(), optimizer=Adam(), metrics=["accuracy"])
    calls: dict[str, Callable[[], object]] = {
        "forward": lambda: model.forward(xs),
        "predict": lambda: model.predict(xs),
        "evaluate": lambda: model.evaluate(xs, y),
        "fit": lambda: model.fit(xs, y, epochs=1, batch_size=2, verbose=0, seed=0),
    }
    result = attempt(calls[method])
    if isinstance(result, np.ndarray):
        check_result(result, finite=in_range(*xs))
    elif isinstance(result, dict):
        assert all(math.isfinite(v) for v in result.values()), f"evaluate gave {result}"


# --- the gradient checker --------------------------------------------------------------------------


def assert_meaningful(report: GradCheckReport, point: Sequence[AnyArray]) -> None:
    """A check that passes compared something for every non-empty tensor, at a finite point (the
    inputs, labels and parameters)."""
    if not report.passed:
        return
    empty = [row.name for row in report.rows if row.checked == 0 and math.prod(row.shape) > 0]
    assert not empty, f"the check passed without comparing a single entry of {empty}:\n{report}"
    assert is_finite(*point), f"the check passed at a point with NaN or inf:\n{report}"


@fuzz(50)
@given(name=st.sampled_from(sorted(LAYERS)), method=st.sampled_from(METHODS), training=st.booleans(),
       in_parameter=st.booleans(), entry=st.integers(0, 11))
@example(name="Dense", method="complex", training=True, in_parameter=False, entry=0)
@example(name="ReLU", method="central", training=True, in_parameter=False, entry=0)
@example(name="BatchNorm", method="complex", training=True, in_parameter=True, entry=0)
def test_check_layer_never_passes_at_a_nan(
    name: str, method: Method, training: bool, in_parameter: bool, entry: int
) -> None:
    """A NaN in the input, or in a parameter, cannot give a passing check. (Warnings are the next
    test's business.)"""
    x = filled((2, FEATURES), layer_dtype(name))
    layer = make_layer(name, training)
    layer.build(x.shape)
    params = [p.value for p in layer.parameters()]
    poisoned = params[entry % len(params)] if in_parameter and params else x
    poisoned.flat[entry % poisoned.size] = np.nan
    report = attempt(lambda: check_layer(layer, x, method=method), warnings_fail=False)
    if report is not None:
        assert_meaningful(report, [x, *params])


@fuzz(50)
@given(name=st.sampled_from(sorted(LAYERS)), method=st.sampled_from(METHODS), training=st.booleans(),
       x=st.sampled_from(EXTREME).flatmap(lambda values: batches(FEATURES, values=values)))
@example(name="Dense", method="complex", training=True, x=np.full((1, FEATURES), 1e300))
@example(name="ReLU", method="central", training=True, x=np.array([[np.inf, 1.0, -1.0]]))
def test_check_layer_at_inf_and_huge_inputs(name: str, method: Method, training: bool, x: AnyArray) -> None:
    layer = make_layer(name, training)
    x = as_dtype(x, layer_dtype(name))
    report = attempt(lambda: check_layer(layer, x, method=method))
    if report is not None:
        assert_meaningful(report, [x, *(p.value for p in layer.parameters())])


CHECKED: dict[str, Callable[[], Layer | Merge]] = {
    "Dense": lambda: Dense(FEATURES, 2, seed=0), "Dropout": lambda: Dropout(0.5, seed=0),
    "BatchNorm": lambda: BatchNorm(FEATURES), "Add": Add, "Concatenate": Concatenate,
}
"""Layers that refuse every input they cannot take: whatever fails with them is the checker's."""


@fuzz(80)
@given(name=st.sampled_from(sorted(CHECKED)), shape=shapes(FEATURES).filter(lambda s: math.prod(s) <= 12),
       dtype=st.sampled_from(DTYPES), method=st.sampled_from(METHODS))
@example(name="Dense", shape=(2, FEATURES), dtype="complex128", method="complex")
@example(name="Add", shape=(), dtype="float64", method="complex")
def test_check_layer_refuses_or_handles_any_input(name: str, shape: Shape, dtype: str, method: Method) -> None:
    x = filled(shape, dtype)
    layer = CHECKED[name]()
    report = attempt(lambda: check_layer(layer, [x, x] if isinstance(layer, Merge) else x, method=method))
    if report is not None:
        assert_meaningful(report, [x, *(p.value for p in layer.parameters())])


@st.composite
def check_cases(draw: st.DrawFn) -> tuple[bool, AnyArray, AnyArray]:
    """Whether to check the MSE model (else the BCE one), x of any shape, dtype and values, and labels."""
    shape = draw(st.integers(1, 3).map(lambda batch: (batch, 3)) | shapes(FEATURES).filter(lambda s: math.prod(s) <= 12))
    values: Values = draw(st.sampled_from(VALUES))
    x = draw(arrays(shape, draw(st.sampled_from(["float64", *DTYPES])), values))
    batch = shape[0] if shape else 1
    mse = draw(st.booleans())
    y = draw(arrays((batch, 2), values=values)) if mse else draw(labels_for(np.zeros((batch, 1))))
    return mse, x, y


@fuzz(50)
@given(case=check_cases(), method=st.sampled_from(METHODS), mode=st.sampled_from(MODES))
@example(case=(True, filled((2, 3), "complex128"), np.zeros((2, 2))), method="complex", mode="full")
@example(case=(False, np.full((2, 3), 1e300), np.array([[0.0], [1.0]])), method="complex", mode="directional")
def test_check_gradients_refuses_or_handles_any_data(
    case: tuple[bool, AnyArray, AnyArray], method: Method, mode: Mode
) -> None:
    mse, x, y = case
    loss: Loss
    if mse:
        model, loss = Sequential([Dense(3, 2, seed=0), ELU(), Dense(2, 2, seed=1)]), MSELoss()
    else:
        model, loss = Sequential([Dense(3, 2, seed=0), Tanh(), Dense(2, 1, seed=1), Sigmoid()]), BCELoss()
    report = attempt(lambda: check_gradients(model, loss, x, y, method=method, mode=mode, samples=3))
    if report is not None:
        assert_meaningful(report, [x, y, *(p.value for p in model.parameters())])


# --- load_model -----------------------------------------------------------------------------------


def saveable_models() -> dict[str, Container]:
    a = Input(3)
    h = Concatenate()([Dense(3, 2, seed=1)(a), LeakyReLU(0.1)(a)])
    return {
        "sequential": Sequential([Input(3), Dense(4, seed=0), ReLU(), BatchNorm(), Dropout(0.2, seed=1), Dense(2, seed=2),
                                  Softmax()]),
        "graph": Model(a, Sigmoid()(Dense(5, 1, seed=0)(h))),
        "nested": Sequential([Input(3), Sequential([Dense(3, 3, seed=0), Tanh()]), Dense(3, 1, seed=1), ELU()]),
        "float32": Sequential([Dense(3, 2, seed=0, dtype=np.float32), Identity(), Flatten()]),
    }


SAVED = ["sequential", "graph", "nested", "float32"]


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The bytes of each model of `saveable_models`, as `save` writes them."""
    folder = tmp_path_factory.mktemp("saved")
    return {name: model.save(folder / f"{name}.safetensors").read_bytes() for name, model in saveable_models().items()}


def load_bytes(tmp_path: Path, content: bytes) -> Container | None:
    """load_model on a file holding `content`. A model that loads holds finite weights only: save
    refuses non-finite ones, so load must not let a damaged file bring them in."""
    path = tmp_path / "model.safetensors"
    path.write_bytes(content)
    model = attempt(lambda: load_model(path))
    if model is not None:
        for name, p in model.named_parameters():
            assert np.all(np.isfinite(p.value)), f"load_model brought in non-finite weights in {name}: {p.value}"
    return model


def header(content: bytes) -> tuple[dict[str, Any], bytes]:
    """The JSON header of a safetensors file, and the tensor bytes after it."""
    n = struct.unpack("<Q", content[:8])[0]
    return json.loads(content[8 : 8 + n]), content[8 + n :]


def with_header(head: dict[str, Any], body: bytes) -> bytes:
    raw = json.dumps(head).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + body


SAFETENSORS_DTYPES = ["BF16", "F8_E4M3", "F64", "F32", "F16", "I64", "U8", "BOOL", "C64"]
ITEM_SIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "C64": 8}
RANDOM_HEADERS = st.builds(
    lambda meta, entries: {"__metadata__": meta, **entries},
    st.dictionaries(st.sampled_from(["format", "format_version", "architecture", "x"]),
                    st.sampled_from(["framework", "1", "2", "", "{}", '{"class": "Sequential", "config": {}}'])),
    st.dictionaries(st.sampled_from(["0.W", "0.b", "t"]), st.fixed_dictionaries({
        "dtype": st.sampled_from([*SAFETENSORS_DTYPES, "XYZ"]),
        "shape": st.lists(st.integers(0, 3), max_size=2),
        "data_offsets": st.tuples(st.integers(0, 8), st.integers(0, 16)).map(list),
    }), max_size=2),
)


@fuzz(120, uses_tmp_path=True)
@given(content=st.binary(max_size=64) | st.tuples(RANDOM_HEADERS, st.binary(max_size=24)).map(lambda hb: with_header(*hb)))
def test_load_model_refuses_random_bytes(tmp_path: Path, content: bytes) -> None:
    load_bytes(tmp_path, content)


Damage: TypeAlias = tuple[Literal["truncate", "flip", "overwrite", "non-finite", "dtype"], int, int, str]
"""How, where (an index taken modulo the file's or the tensor's size), which bit or byte value, and
a safetensors dtype."""


def damage(content: bytes, how: str, where: int, value: int, dtype: str) -> bytes:
    """The file truncated, a bit flipped, a byte overwritten, a weight set to NaN or ±inf, or a
    tensor's dtype (and shape, to keep its size) changed in the header."""
    if how == "truncate":
        return content[: where % len(content)]
    if how in ("flip", "overwrite"):
        data = bytearray(content)
        i = where % len(data)
        data[i] = data[i] ^ (1 << value % 8) if how == "flip" else value % 256
        return bytes(data)
    head, body = header(content)
    names = sorted(k for k in head if k != "__metadata__")
    name = names[where % len(names)]
    start, end = head[name]["data_offsets"]
    if how == "non-finite":
        size = 4 if head[name]["dtype"] == "F32" else 8
        at = start + (where // len(names)) % ((end - start) // size) * size
        bad = struct.pack("<f" if size == 4 else "<d", [math.nan, math.inf, -math.inf][value % 3])
        return with_header(head, body[:at] + bad + body[at + size :])
    head[name] |= {"dtype": dtype, "shape": [(end - start) // ITEM_SIZE.get(dtype, 1)] if value % 2 else head[name]["shape"]}
    return with_header(head, body)


@pytest.mark.parametrize("name", SAVED)
@fuzz(30, uses_tmp_path=True)
@given(damaged=st.tuples(st.sampled_from(["truncate", "flip", "overwrite", "non-finite", "dtype"]),
                         st.integers(0, 10**6), st.integers(0, 255), st.sampled_from(SAFETENSORS_DTYPES)))
@example(damaged=("non-finite", 0, 0, "F64"))
@example(damaged=("dtype", 0, 1, "BF16"))
@example(damaged=("dtype", 0, 1, "F8_E4M3"))
def test_load_model_refuses_a_damaged_file(tmp_path: Path, saved: dict[str, bytes], name: str, damaged: Damage) -> None:
    load_bytes(tmp_path, damage(saved[name], *damaged))


def positions(tree: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    """Every position in a JSON tree, as the keys and indices that lead to it."""
    yield path
    children = tree.items() if isinstance(tree, dict) else enumerate(tree) if isinstance(tree, list) else []
    for key, child in children:
        yield from positions(child, (*path, key))


CONFIG_KEYS = ["init", "axis", "model", "seed", "dtype", "class", "config", "layers", "in_features", "out_features",
               "features", "rate", "alpha", "momentum", "eps", "input_shape", "modules", "nodes", "inputs", "outputs",
               "parents", "module", "input", "name"]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 12) | st.sampled_from([10**9, -(10**9), 0.5, -1.0, 1e300, math.nan])
    | st.sampled_from(["", "x", "he", "float32", "float64", "int64", "Dense", "Sequential", "Model", "Nested", "Foo"]),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.sampled_from(["class", "config", "model", "x"]), children, max_size=3),
    max_leaves=6,
)


@pytest.mark.parametrize("name", SAVED)
@fuzz(40, uses_tmp_path=True)
@given(key=st.sampled_from(CONFIG_KEYS), which=st.integers(0, 50), value=JSON_VALUES, remove=st.booleans())
@example(key="init", which=0, value=None, remove=False)
@example(key="dtype", which=0, value=["x"], remove=False)
@example(key="axis", which=0, value=None, remove=False)
@example(key="seed", which=0, value=-1, remove=False)
@example(key="model", which=0, value=5, remove=False)
@example(key="model", which=0, value={}, remove=False)
def test_load_model_refuses_a_mutated_architecture(
    tmp_path: Path, saved: dict[str, bytes], name: str, key: str, which: int, value: object, remove: bool
) -> None:
    """The value under one key of the architecture (the which-th such key; any position if there is
    none) replaced by any JSON value, or removed. A model that still loads predicts a finite output,
    or raises a FrameworkError."""
    head, body = header(saved[name])
    architecture = json.loads(head["__metadata__"]["architecture"])
    everywhere = list(positions(architecture))[1:]
    candidates = [path for path in everywhere if path[-1] == key] or everywhere
    path = candidates[which % len(candidates)]
    parent = architecture
    for step in path[:-1]:
        parent = parent[step]
    if remove and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    head["__metadata__"]["architecture"] = json.dumps(architecture)
    model = load_bytes(tmp_path, with_header(head, body))
    if model is not None:
        x = X.astype(model.parameters()[0].value.dtype if model.parameters() else np.float64)
        out = attempt(lambda: model.predict(x))
        if out is not None:
            check_result(out, finite=True)
