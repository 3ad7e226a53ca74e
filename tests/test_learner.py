"""The learner's checks: a network written by hand the way the course writes it (numpy functions, a
parameters dict, caches, a grads dict), correct and with each classic mistake, checked by
check_backprop (culprit and cause) and check_function (numerically); and every bad input."""

import hashlib
import math
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import attrs
import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framework import (
    BackpropReport, DTypeError, FrameworkError, NonFiniteError, ShapeError, ValueRangeError, check_backprop,
    check_function,
)
from framework.arrays import Array
from framework.learner import CATALOGUE
from framework.learner.function import FULL_UP_TO

Floats = npt.NDArray[np.float64]
Params = dict[str, Floats]
Layout = Literal["course", "batch-first"]
Convention = Literal["course", "dJ/dZ"]
ROOT = Path(__file__).resolve().parents[1]


# --- the learner's code --------------------------------------------------------------------------


def sigmoid(Z: Array) -> Array:
    return 1 / (1 + np.exp(-Z))


def softmax(Z: Array, axis: int) -> Array:
    e: Array = np.exp(Z - Z.real.max(axis=axis, keepdims=True))
    s: Array = e / np.sum(e, axis=axis, keepdims=True)
    return s


def activate(name: str, Z: Array, axis: int) -> Array:
    if name == "relu":
        relu: Array = np.maximum(0, Z)
        return relu
    if name == "sigmoid":
        return sigmoid(Z)
    if name == "tanh":
        return np.tanh(Z)
    if name == "softmax":
        return softmax(Z, axis)
    return Z


@attrs.frozen
class Lines:
    """The learner's backward, one line a field, in their layout and convention. A test of a mistake
    writes one of these lines wrong."""

    dAL: Callable[[str, Array, Array, int], Array]
    """(output activation, AL, Y, m) -> dAL"""
    dW: Callable[[Array, Array, Array, int, float], Array]
    """(dZ, A_prev, W, m, lambd) -> dW"""
    db: Callable[[Array, int], Array]
    dA_prev: Callable[[Array, Array], Array]
    """(W, dZ) -> dA_prev"""
    relu: Callable[[Array, Array, Array], Array] = lambda dA, Z, A: dA * (Z > 0)
    sigmoid: Callable[[Array, Array, Array], Array] = lambda dA, Z, A: dA * A * (1 - A)
    tanh: Callable[[Array, Array, Array], Array] = lambda dA, Z, A: dA * (1 - A ** 2)
    linear: Callable[[Array, Array, Array], Array] = lambda dA, Z, A: dA
    softmax: Callable[[Array, Array, Array, int], Array] | None = None
    """(AL, Y, Z, m) -> dZL for a softmax output."""
    output_dZ: Callable[[Array, Array, Array, int], Array] | None = None
    """(dAL, AL, Y, m) -> dZL written directly (dZ3 = A3 - Y), instead of through the activation's line."""


def cross_entropy_dAL(name: str, AL: Array, Y: Array, m: int) -> Array:
    if name == "sigmoid":
        return -(np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))
    if name == "softmax":
        return -Y / AL
    return 2 * (AL - Y)


def lines(layout: Layout = "course", convention: Convention = "course", **wrong: Any) -> Lines:
    """The correct lines of a layout and convention, with the lines in `wrong` replaced."""
    per_m: Callable[[Array, int], Array] = (lambda a, m: a) if convention == "course" else (lambda a, m: a / m)
    k: Callable[[int], float] = (lambda m: 1 / m) if convention == "course" else (lambda m: 1.0)
    if layout == "course":
        right = Lines(
            dAL=lambda name, AL, Y, m: per_m(cross_entropy_dAL(name, AL, Y, m), m),
            dW=lambda dZ, A_prev, W, m, lambd: k(m) * np.dot(dZ, A_prev.T) + lambd / m * W,
            db=lambda dZ, m: k(m) * np.sum(dZ, axis=1, keepdims=True),
            dA_prev=lambda W, dZ: np.dot(W.T, dZ),
            softmax=lambda AL, Y, Z, m: per_m(AL - Y, m),
        )
    else:
        right = Lines(
            dAL=lambda name, AL, Y, m: per_m(cross_entropy_dAL(name, AL, Y, m), m),
            dW=lambda dZ, A_prev, W, m, lambd: k(m) * np.dot(A_prev.T, dZ) + lambd / m * W,
            db=lambda dZ, m: k(m) * np.sum(dZ, axis=0),
            dA_prev=lambda W, dZ: np.dot(dZ, W.T),
            softmax=lambda AL, Y, Z, m: per_m(AL - Y, m),
        )
    return attrs.evolve(right, **wrong)


@attrs.frozen
class Learner:
    """A fully connected network the way a learner writes it: parameters, X and Y in their layout, a
    forward that keeps caches, and a backward made of `lines`."""

    parameters: Params
    X: Floats
    Y: Floats
    activations: tuple[str, ...]
    layout: Layout = "course"
    lambd: float = 0.0

    @property
    def m(self) -> int:
        return int(self.X.shape[1] if self.layout == "course" else self.X.shape[0])

    @property
    def axis(self) -> int:
        """The units' axis: 0 in the course's layout (n_l, m), 1 batch first."""
        return 0 if self.layout == "course" else 1

    def forward(self, parameters: Mapping[str, Array]) -> tuple[Array, list[tuple[Array, Array, Array]]]:
        A: Array = self.X
        caches: list[tuple[Array, Array, Array]] = []
        for l, name in enumerate(self.activations, 1):
            W, b = parameters[f"W{l}"], parameters[f"b{l}"]
            Z = np.dot(W, A) + b if self.layout == "course" else np.dot(A, W) + b
            caches.append((A, Z, activate(name, Z, self.axis)))
            A = caches[-1][2]
        return A, caches

    def cost(self, parameters: Mapping[str, Array]) -> Array:
        AL, _ = self.forward(parameters)
        Y, m, last = self.Y, self.m, self.activations[-1]
        if last == "sigmoid":
            cost = -np.sum(Y * np.log(AL) + (1 - Y) * np.log(1 - AL)) / m
        elif last == "softmax":
            cost = -np.sum(Y * np.log(AL)) / m
        else:
            cost = np.sum((AL - Y) ** 2) / m
        L2 = sum(np.sum(np.square(parameters[f"W{l}"])) for l in range(1, len(self.activations) + 1))
        total: Array = np.squeeze(cost + self.lambd / (2 * m) * L2)
        return total

    def backward(self, code: Lines) -> dict[str, Array]:
        AL, caches = self.forward(self.parameters)
        m, L, grads = self.m, len(caches), dict[str, Array]()
        dA = code.dAL(self.activations[-1], AL, self.Y, m)
        grads[f"dA{L}"] = dA
        for l in range(L, 0, -1):
            A_prev, Z, A = caches[l - 1]
            W = self.parameters[f"W{l}"]
            if l == L and code.output_dZ is not None:
                dZ = code.output_dZ(dA, A, self.Y, m)
            elif l == L and self.activations[-1] == "softmax":
                assert code.softmax is not None
                dZ = code.softmax(A, self.Y, Z, m)
            else:
                dZ = getattr(code, self.activations[l - 1])(dA, Z, A)
            grads[f"dZ{l}"] = dZ
            grads[f"dW{l}"] = code.dW(dZ, A_prev, W, m, self.lambd)
            grads[f"db{l}"] = code.db(dZ, m)
            dA = code.dA_prev(W, dZ)
            grads[f"dA{l - 1}"] = dA
        return grads

    def check(self, code: Lines | None = None, keep: Callable[[str], bool] = lambda key: True,
              **options: Any) -> BackpropReport:
        grads = self.backward(code or lines(self.layout))
        return check_backprop(self.parameters, {k: v for k, v in grads.items() if keep(k)}, self.X, self.Y,
                              list(self.activations), lambd=self.lambd, **options)


def network(sizes: list[int], activations: list[str], *, m: int = 8, seed: int = 0, layout: Layout = "course",
            lambd: float = 0.0, bias: float = 0.0, dead_sample: bool = False) -> Learner:
    """He-initialised weights, biases drawn at `bias` scale (the course's are zero), X standard normal,
    Y 0/1 (one-hot for a softmax output); `dead_sample` makes sample 0 all zeros."""
    rng = np.random.default_rng(seed)
    parameters: Params = {}
    for l in range(1, len(sizes)):
        W = rng.standard_normal((sizes[l], sizes[l - 1])) * np.sqrt(2 / sizes[l - 1])
        b = bias * rng.standard_normal((sizes[l], 1))
        parameters[f"W{l}"], parameters[f"b{l}"] = (W, b) if layout == "course" else (W.T.copy(), b.reshape(-1))
    X = rng.standard_normal((sizes[0], m))
    if dead_sample:
        X[:, 0] = 0.0
    if activations[-1] == "softmax":
        Y = np.eye(sizes[-1])[:, rng.integers(0, sizes[-1], m)]
    elif activations[-1] == "sigmoid":
        Y = rng.integers(0, 2, (sizes[-1], m)).astype(np.float64)
    else:
        Y = rng.standard_normal((sizes[-1], m))
    if layout == "batch-first":
        X, Y = X.T.copy(), Y.T.copy()
    return Learner(parameters, X, Y, tuple(activations), layout, lambd)


def fingerprint(*dicts: Mapping[str, Array]) -> list[str]:
    return [f"{k}:{a.shape}:{hashlib.sha256(a.tobytes()).hexdigest()}" for d in dicts for k, a in sorted(d.items())]


# --- check_backprop: each classic mistake, written the way a learner writes it ----------------------


@attrs.frozen
class Case:
    """A learner's network and their code with one mistake; what check_backprop must say."""

    learner: Learner
    code: Lines
    culprit: str
    cause: tuple[str, ...]
    """Words the cause must contain: the learner's variable names among them."""
    keep: Callable[[str], bool] = lambda key: True


def relu_net(**options: Any) -> Learner:
    return network([5, 4, 3, 1], ["relu", "relu", "sigmoid"], **options)


def square_net(layout: Layout = "course", m: int = 8, output: str = "softmax") -> Learner:
    """3 -> 3 -> 3 -> 3: every W is square, so a missing transpose keeps the shapes."""
    return network([3, 3, 3, 3], ["relu", "tanh", output], layout=layout, m=m, seed=2)


DJ: Convention = "dJ/dZ"
CASES: dict[str, Case] = {
    "sign of dAL flipped": Case(
        relu_net(), lines(dAL=lambda name, AL, Y, m: np.divide(Y, AL) - np.divide(1 - Y, 1 - AL)),  # BUG: -( ... )
        "dA3", ("dA3 has the wrong sign", "dA3 = -(Y / A3 - (1 - Y) / (1 - A3))")),
    "1/m missing from dAL": Case(
        relu_net(), lines(convention=DJ, dAL=lambda name, AL, Y, m: -(np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))),
        "dA3", ("dA3 is 8 times too large", "/ m")),  # BUG: the dJ/dZ convention's / m
    "2 missing from the squared error's dAL": Case(
        network([5, 4, 2], ["tanh", "linear"]), lines(dAL=lambda name, AL, Y, m: AL - Y),  # BUG: 2 * (AL - Y)
        "dA2", ("dA2 is half the derivative of the squared error", "dA2 = 2 * (A2 - Y)")),
    "sigmoid derivative on Z": Case(
        relu_net(), lines(sigmoid=lambda dA, Z, A: dA * Z * (1 - Z)),  # BUG: on A
        "dZ3", ("sigmoid", "Z3", "dZ3 = dA3 * A3 * (1 - A3)")),
    "tanh derivative on Z": Case(
        network([5, 4, 3, 1], ["tanh", "tanh", "sigmoid"]), lines(tanh=lambda dA, Z, A: dA * (1 - Z ** 2)),  # BUG
        "dZ2", ("tanh", "Z2", "dZ2 = dA2 * (1 - A2 ** 2)")),
    "ReLU mask missing": Case(
        relu_net(), lines(relu=lambda dA, Z, A: dA),  # BUG: dA * (Z > 0)
        "dZ2", ("the ReLU mask is missing", "dZ2 = dA2 * (Z2 > 0)")),
    "ReLU mask from the gradient": Case(
        relu_net(), lines(relu=lambda dA, Z, A: dA * (dA > 0)),  # BUG: the mask is Z > 0
        "dZ2", ("masked where dA2 > 0, not where Z2 > 0",)),
    "sign of dZ of the output flipped": Case(
        relu_net(), lines(output_dZ=lambda dA, AL, Y, m: Y - AL),  # BUG: AL - Y
        "dZ3", ("dZ3 has the wrong sign", "dZ3 = dA3 * A3 * (1 - A3)")),
    "1/m missing from dZ of the output": Case(
        relu_net(), lines(convention=DJ, output_dZ=lambda dA, AL, Y, m: AL - Y),  # BUG: (AL - Y) / m
        "dZ3", ("dZ3 is 8 times too large", "the 1/m inside dZ")),
    "1/m missing from dW": Case(
        relu_net(), lines(dW=lambda dZ, A_prev, W, m, lambd: np.dot(dZ, A_prev.T)),  # BUG: 1/m * np.dot(...)
        "dW3", ("dW3 is 8 times too large", "dW3 = 1/m * np.dot(dZ3, A2.T)")),
    "1/m applied twice in dW": Case(
        relu_net(), lines(dW=lambda dZ, A_prev, W, m, lambd: 1 / m * np.dot(dZ, A_prev.T) / m),  # BUG
        "dW3", ("dW3 is divided by m twice",)),
    "dW transposed": Case(
        square_net(), lines(dW=lambda dZ, A_prev, W, m, lambd: 1 / m * np.dot(A_prev, dZ.T)),  # BUG: dZ A_prev.T
        "dW3", ("dW3 is transposed", "W3 is square")),
    "L2 term missing from dW": Case(
        relu_net(lambd=0.7), lines(dW=lambda dZ, A_prev, W, m, lambd: 1 / m * np.dot(dZ, A_prev.T)),  # BUG
        "dW3", ("regularization", "dW3 = 1/m * np.dot(dZ3, A2.T) + lambd/m * W3")),
    "L2 term of dW without the 1/m": Case(
        relu_net(lambd=0.7), lines(dW=lambda dZ, A_prev, W, m, lambd: 1 / m * np.dot(dZ, A_prev.T) + lambd * W),
        "dW3", ("regularization term is lambd * W3", "lambd/m * W3")),  # BUG: lambd / m * W
    "1/m missing from db": Case(
        relu_net(), lines(db=lambda dZ, m: np.sum(dZ, axis=1, keepdims=True)),  # BUG: 1/m * np.sum
        "db3", ("db3 is 8 times too large", "db3 = 1/m * np.sum(dZ3, axis=1, keepdims=True)")),
    "db computed as a mean": Case(
        relu_net(), lines(convention=DJ, db=lambda dZ, m: np.mean(dZ, axis=1, keepdims=True)),  # BUG: np.sum
        "db3", ("db3 is a mean over the samples", "dZ3 already holds the 1/m")),
    "1/m applied twice in db": Case(
        relu_net(), lines(db=lambda dZ, m: 1 / m * np.mean(dZ, axis=1, keepdims=True)),  # BUG: np.sum
        "db3", ("db3 is divided by m twice",)),
    "db summed over the wrong axis": Case(
        square_net("batch-first", m=3, output="sigmoid"), lines("batch-first", db=lambda dZ, m: 1 / m * np.sum(dZ, axis=1)),  # axis=0
        "db3", ("db3 sums dZ3 over its units", "db3 = 1/m * np.sum(dZ3, axis=0)")),
    "W not transposed in dA_prev": Case(
        square_net(), lines(dA_prev=lambda W, dZ: np.dot(W, dZ)),  # BUG: W.T
        "dA2", ("dA2 uses W3 where it needs its transpose", "dA2 = np.dot(W3.T, dZ3)")),
    "dA_prev divided by m": Case(
        relu_net(), lines(dA_prev=lambda W, dZ: np.dot(W.T, dZ) / 8),  # BUG: no 1/m here
        "dA2", ("dA2 is divided by m",)),
}


def test_every_mistake_of_the_catalogue_has_a_case() -> None:
    assert set(CASES) | {"ReLU derivative 1 at Z = 0"} == {m.name for m in CATALOGUE}
    assert len({m.name for m in CATALOGUE}) == len(CATALOGUE)


@pytest.mark.parametrize("name", list(CASES))
def test_each_mistake_is_the_culprit_and_named_as_the_cause(name: str) -> None:
    case = CASES[name]
    report = case.learner.check(case.code, case.keep)
    assert report.passed is False
    assert report.culprit == case.culprit
    assert report.findings[0].mistake == name, str(report)
    assert report.cause is not None
    for words in case.cause:
        assert words in report.cause, report.cause
    assert report.explained, str(report)
    before = list(report.right[:[r.name for r in report.rows].index(case.culprit)])
    assert all(r.passed for r in report.rows[:len(before)]), "everything before the culprit is right"
    assert f"Culprit: {case.culprit}" in str(report) and f"Cause: {report.findings[0].sentence}" in str(report)


# --- check_backprop: a correct network passes, in both layouts and both conventions ----------------


@settings(max_examples=150)
@given(
    hidden=st.lists(st.integers(1, 5), min_size=0, max_size=3),
    n_x=st.integers(1, 6), outputs=st.integers(1, 3), m=st.integers(1, 12),
    hidden_activation=st.sampled_from(["relu", "tanh", "sigmoid", "linear"]),
    output=st.sampled_from(["sigmoid", "softmax", "linear"]),
    layout=st.sampled_from(["course", "batch-first"]), convention=st.sampled_from(["course", DJ]),
    lambd=st.sampled_from([0.0, 0.7]), bias=st.sampled_from([0.0, 0.5]), dead_sample=st.booleans(),
    keep=st.sampled_from(["all", "dW and db", "dW3 only", "intermediates"]), seed=st.integers(0, 2**32 - 1),
)
def test_a_correct_network_passes_with_no_false_alarm(
    hidden: list[int], n_x: int, outputs: int, m: int, hidden_activation: str, output: str, layout: Layout,
    convention: Convention, lambd: float, bias: float, dead_sample: bool, keep: str, seed: int,
) -> None:
    outputs = max(outputs, 2) if output == "softmax" else outputs
    learner = network([n_x, *hidden, outputs], [hidden_activation] * len(hidden) + [output], m=m, seed=seed,
                      layout=layout, lambd=lambd, bias=bias, dead_sample=dead_sample)
    last = f"dW{len(hidden) + 1}"
    chosen: dict[str, Callable[[str], bool]] = {
        "all": lambda key: True, "dW and db": lambda key: key[:2] in ("dW", "db"), "dW3 only": lambda key: key == last,
        "intermediates": lambda key: key[:2] in ("dZ", "dA")}
    report = learner.check(lines(layout, convention), chosen[keep])
    assert report.passed, str(report)
    assert report.culprit is None and report.cause is None and report.causes == ()
    assert report.layout == layout
    if keep in ("all", "intermediates") and m > 1:
        assert report.convention == convention
    assert "twice" not in str(report) and "WRONG" not in str(report)


def test_a_valid_subgradient_at_a_kink_is_no_mistake() -> None:
    learner = relu_net(dead_sample=True)  # zero biases: sample 0 sits on every kink of layer 1
    assert np.any(learner.forward(learner.parameters)[1][0][1] == 0)
    report = learner.check(lines(relu=lambda dA, Z, A: dA * (Z >= 0)))  # ReLU' = 1 at 0: also a subgradient
    assert report.passed, str(report)
    assert {(f.where, f.mistake) for f in report.findings} == {("dZ2", "ReLU derivative 1 at Z = 0"),
                                                               ("dZ1", "ReLU derivative 1 at Z = 0")}
    assert ("Note: dZ2 takes ReLU's derivative as 1 where Z2 = 0 (a mask Z2 >= 0): a valid subgradient at the kink, "
            "not a mistake. The same in dZ1.") in str(report)
    assert learner.check().passed and learner.check().findings == ()


def test_check_backprop_leaves_the_learners_arrays_as_they_were() -> None:
    learner = relu_net(lambd=0.5)
    grads = learner.backward(lines(sigmoid=lambda dA, Z, A: dA * Z * (1 - Z)))
    before = fingerprint(learner.parameters, grads, {"X": learner.X, "Y": learner.Y})
    check_backprop(learner.parameters, grads, learner.X, learner.Y, list(learner.activations), lambd=0.5)
    assert fingerprint(learner.parameters, grads, {"X": learner.X, "Y": learner.Y}) == before
