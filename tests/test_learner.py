"""The learner's checks: a network written by hand the way the course writes it (numpy functions, a
parameters dict, caches, a grads dict), correct and with each classic mistake, checked by
check_backprop (culprit and cause) and check_function (numerically); and every bad input."""

import hashlib
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
from framework.core.arrays import Array
from framework.learner import CATALOGUE
from framework.learner.function import FULL_UP_TO
from framework.learner.precision import EXTENDED

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


def poke(a: Array, index: tuple[int, ...], value: float) -> Array:
    """A copy of `a` with one entry set."""
    b = a.copy()
    b[index] = value
    return b


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
    "tanh derivative without the square": Case(
        network([5, 4, 3, 1], ["tanh", "tanh", "sigmoid"]), lines(tanh=lambda dA, Z, A: dA * (1 - A)),  # BUG: A ** 2
        "dZ2", ("leaves out the square", "dZ2 = dA2 * (1 - A2 ** 2)")),
    "upstream gradient not multiplied": Case(
        network([5, 4, 3, 1], ["tanh", "tanh", "sigmoid"]), lines(tanh=lambda dA, Z, A: 1 - A ** 2),  # BUG: dA * (...)
        "dZ2", ("dZ2 is the activation's derivative alone", "dA2", "dZ2 = dA2 * (1 - A2 ** 2)")),
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
    "A_prev not transposed in dW": Case(
        square_net(m=3), lines(dW=lambda dZ, A_prev, W, m, lambd: 1 / m * np.dot(dZ, A_prev)),  # BUG: A_prev.T
        "dW3", ("dW3 uses A2 where it needs its transpose", "m = 3", "dW3 = 1/m * np.dot(dZ3, A2.T)")),
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
        square_net("batch-first", m=3, output="sigmoid"),
        lines("batch-first", db=lambda dZ, m: 1 / m * np.sum(dZ, axis=1)),  # BUG: axis=0
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


@settings(max_examples=400)
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


# --- the seed: a 4-3-1 network with the sigmoid's derivative on Z3 and the 1/m left out ------------


def seed_net() -> Learner:
    return network([64, 4, 3, 1], ["relu", "relu", "sigmoid"], m=64, seed=4)


SEED_BUGS = lines(sigmoid=lambda dA, Z, A: dA * Z * (1 - Z),  # BUG 1: sigmoid'(Z3) is A3 * (1 - A3)
                  dW=lambda dZ, A_prev, W, m, lambd: np.dot(dZ, A_prev.T))  # BUG 2: the 1/m is left out


def test_the_seeds_two_bugs_are_named_in_backward_order() -> None:
    report = seed_net().check(SEED_BUGS)
    assert report.culprit == "dZ3" and report.right == ("dA3",)
    assert report.cause is not None and "sigmoid" in report.cause and "evaluated on Z3" in report.cause
    assert [(f.where, f.mistake) for f in report.findings] == [
        ("dZ3", "sigmoid derivative on Z"), ("dW3", "1/m missing from dW"), ("dW2", "1/m missing from dW"),
        ("dW1", "1/m missing from dW")]
    text = str(report)
    assert text.startswith("NOT close enough: dZ3 is wrong, a relative error of ")
    assert ("Culprit: dZ3, the first wrong quantity in backward order; dA3, before it, is right: the wrong line is "
            "between the one that computes dA3 and the one that computes dZ3.") in text
    assert ("Also: dW3 is 64 times too large: the 1/m is missing: dW3 = 1/m * np.dot(dZ3, A2.T). The same in dW2, "
            "dW1.") in text


def test_with_only_dW3_given_both_bugs_are_found_together() -> None:
    report = seed_net().check(SEED_BUGS, keep=lambda key: key == "dW3")
    assert report.culprit == "dW3" and report.right == ()
    assert [f.where for f in report.findings] == ["dZ3", "dW3"]
    assert report.cause is not None and ". And dW3 is 64 times too large" in report.cause
    assert report.convention is None and "not needed" in report.convention_reason


def test_the_correct_seed_network_passes_both_checks() -> None:
    learner = seed_net()
    grads = learner.backward(lines())
    assert learner.check().passed
    report = check_function(learner.cost, learner.parameters, grads)
    assert report.passed, str(report)
    assert report.method == "complex" and "complex step, because the cost keeps the imaginary part" in report.why
    assert report.worst_relative_error < 1e-12  # not 1e-16: the learner's log(1 - A3) loses digits as A3 nears 1
    assert report.ignored == ("dA3", "dZ3", "dA2", "dZ2", "dA1", "dZ1", "dA0")


# --- check_function -------------------------------------------------------------------------------


def kinked_net() -> Learner:
    """12-4-3-1, 40 samples, zero biases: samples for which every unit of layer 1 is off put Z2 at 0."""
    return network([12, 4, 3, 1], ["relu", "relu", "sigmoid"], m=40, seed=3)


@pytest.mark.parametrize("method", ["complex", "central"])
def test_a_correct_network_on_its_kinks_passes_and_the_report_says_why(method: Literal["complex", "central"]) -> None:
    learner = kinked_net()
    _, caches = learner.forward(learner.parameters)
    assert int(np.sum(np.all(caches[1][1] == 0, axis=0))) == 3  # 3 samples with Z2 = 0 exactly
    report = check_function(learner.cost, learner.parameters, learner.backward(lines()), method=method)
    assert report.passed, str(report)
    (db2,) = [r for r in report.rows if r.name == "db2"]
    assert db2.note.startswith("3 entries sit on a kink, such as ")
    assert "lies between them: a valid subgradient (np.maximum(0, Z) at Z = 0?), not an error" in db2.note
    alone = float(db2.note.rsplit("a relative error of ", 1)[1].rstrip(")"))
    assert alone == pytest.approx(0.11 if method == "complex" else 0.055, abs=0.005)  # a plain check fails db2
    assert all(not r.note for r in report.rows if r.name != "db2")


@settings(max_examples=40)
@given(hidden=st.lists(st.integers(1, 4), min_size=0, max_size=2), n_x=st.integers(1, 5), m=st.integers(2, 20),
       hidden_activation=st.sampled_from(["relu", "tanh", "sigmoid"]),
       output=st.sampled_from(["sigmoid", "softmax", "linear"]),
       layout=st.sampled_from(["course", "batch-first"]), bias=st.sampled_from([0.0, 0.5]), dead_sample=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_check_function_passes_a_correct_network(hidden: list[int], n_x: int, m: int, hidden_activation: str,
                                                output: str, layout: Layout, bias: float, dead_sample: bool,
                                                seed: int) -> None:
    learner = network([n_x, *hidden, 2 if output == "softmax" else 1], [hidden_activation] * len(hidden) + [output],
                      m=m, seed=seed, layout=layout, bias=bias, dead_sample=dead_sample, lambd=0.3)
    report = check_function(learner.cost, learner.parameters, learner.backward(lines(layout)))
    assert report.passed and report.method == "complex", str(report)


def test_a_cost_that_casts_to_float_is_checked_by_central_differences() -> None:
    learner = relu_net()

    def cost(parameters: Mapping[str, Array]) -> float:
        return float(learner.cost(parameters))  # drops the imaginary part of a complex step

    grads = learner.backward(lines())
    report = check_function(cost, learner.parameters, grads)
    assert report.passed and report.method == "central", str(report)
    assert report.why.startswith("central differences, because the cost is not complex-step safe: ")
    forced = check_function(cost, learner.parameters, grads, method="complex")
    assert not forced.passed and all("not complex-step safe" in r.note for r in forced.rows)


def test_a_cost_that_loses_the_meaning_of_the_imaginary_part_is_detected() -> None:
    learner = relu_net()

    def cost(parameters: Mapping[str, Array]) -> Array:  # an L1 term: np.abs of a complex number is its modulus
        l1: Array = learner.cost(parameters) + 0.1 * np.sum(np.abs(parameters["W1"]))
        return l1

    grads = learner.backward(lines())
    grads["dW1"] = grads["dW1"] + 0.1 * np.sign(learner.parameters["W1"])
    report = check_function(cost, learner.parameters, grads)
    assert report.method == "central" and "one-sided differences" in report.why
    assert report.passed, str(report)


def test_a_missing_one_over_m_is_diagnosed_with_or_without_m() -> None:
    learner = relu_net()
    grads = learner.backward(lines(dW=lambda dZ, A_prev, W, m, lambd: np.dot(dZ, A_prev.T)))  # BUG: 1/m
    report = check_function(learner.cost, learner.parameters, {"dW3": grads["dW3"], "db3": grads["db3"]})
    (dW3, db3) = report.rows
    assert not dW3.passed and db3.passed
    assert dW3.worst_backward == pytest.approx(8 * dW3.worst_numeric, rel=1e-12)
    assert dW3.note == ("backward/numeric = 8 for every entry: a constant factor is wrong; if m = 8 is your number of "
                        "samples, the 1/m is missing (pass m= to say)")
    assert report.unchecked == ("W1", "b1", "W2", "b2")
    text = str(report)
    assert text.startswith("NOT close enough: dW3 is off by a relative error of 0.78 (at ")
    assert "a bug, not rounding (the complex step is exact to about 1e-15; pass: 1e-09)" in text
    given_m = check_function(learner.cost, learner.parameters, {"dW3": grads["dW3"]}, m=8)
    assert given_m.rows[0].note == "backward/numeric = 8 for every entry = the batch size m: missing 1/m?"


def test_a_huge_tensor_is_sampled_by_default_and_checked_whole_on_request() -> None:
    learner = network([2000, 4, 3, 1], ["relu", "relu", "sigmoid"], m=6, seed=1)
    grads = learner.backward(lines())
    assert learner.parameters["W1"].size > FULL_UP_TO
    report = check_function(learner.cost, learner.parameters, grads, samples=20)
    (dW1,) = [r for r in report.rows if r.name == "dW1"]
    assert report.passed and dW1.checked == 20
    assert dW1.note == "sampled: 20 of 8,000 entries (mode='full' checks each, one cost call an entry)"
    full = check_function(learner.cost, learner.parameters, {"dW1": grads["dW1"]}, mode="full")
    assert full.passed and full.rows[0].checked == 8000 and full.rows[0].note == ""


def test_float32_gradients_get_float32s_threshold() -> None:
    learner = relu_net()
    grads = {k: v.astype(np.float32) for k, v in learner.backward(lines()).items() if k[:2] in ("dW", "db")}
    report = check_function(learner.cost, learner.parameters, grads)
    assert report.passed and report.threshold == 1e-4


def test_check_function_never_hands_the_learners_arrays_to_the_cost_nor_changes_them() -> None:
    learner = relu_net()
    grads = learner.backward(lines())
    before = fingerprint(learner.parameters, grads)
    theirs = {id(a) for a in learner.parameters.values()}
    seen: set[int] = set()

    def cost(parameters: Mapping[str, Array]) -> Array:
        seen.update(id(a) for a in parameters.values())
        return learner.cost(parameters)

    check_function(cost, learner.parameters, grads)
    assert fingerprint(learner.parameters, grads) == before
    assert not seen & theirs


def saturated_net(seed: int, scale: float = 4.0) -> Learner:
    """kinked_net's shape with inputs scaled up: some sigmoids come within 1e-7 to 1e-12 of 1, where the
    learner's np.log(1 - A3) loses digits, and so does any numerical derivative taken through it."""
    learner = network([12, 4, 3, 1], ["relu", "relu", "sigmoid"], m=40, seed=seed)
    return attrs.evolve(learner, X=learner.X * scale)


needs_extended = pytest.mark.skipif(not EXTENDED, reason="np.longdouble is float64 on this platform")


@needs_extended
def test_a_saturated_sigmoid_is_the_costs_rounding_not_a_bug() -> None:
    learner = saturated_net(16, scale=6.0)
    assert 4e-11 < float(np.min(1 - learner.forward(learner.parameters)[0])) < 5e-11
    report = check_function(learner.cost, learner.parameters, learner.backward(lines()))
    assert report.passed and report.method == "complex", str(report)
    rounded = dict(report.rounding)
    assert {"dW3", "dW1"} <= set(rounded) and max(rounded.values()) < 1e-9  # in float64, 9.7e-8 and 1.2e-7
    (dW3,) = [r for r in report.rows if r.name == "dW3"]
    assert dW3.relative_error > 1e-9 and dW3.note.startswith(
        "your cost's own rounding: in float64 the complex step through it is off by up to 9.3e-07 here, and in "
        "extended precision (np.longdouble) it agrees with yours to a relative error of ")
    assert "the cost's own rounding at these parameters (in extended precision: " in report.verdict


@needs_extended
def test_rounding_that_fools_one_sided_differences_still_gets_the_complex_step() -> None:
    learner = saturated_net(18, scale=6.0)  # 1 - A3 = 1e-13: one-sided differences along a direction scatter
    report = check_function(learner.cost, learner.parameters, learner.backward(lines()))
    assert report.passed and report.method == "complex", str(report)
    assert "but by " in report.why and "when the cost runs in extended precision (np.longdouble): that is the " \
        "cost's own rounding" in report.why


def test_one_sided_differences_too_noisy_to_confirm_the_complex_step_do_not_overrule_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("framework.learner.precision.EXTENDED", False)  # as on Windows: no second opinion
    learner = saturated_net(18, scale=6.0)
    report = check_function(learner.cost, learner.parameters, learner.backward(lines()))
    assert report.method == "complex" and "too noisy to confirm its" in report.why, report.why


@needs_extended
def test_a_small_bug_is_not_taken_for_rounding_on_a_saturated_network() -> None:
    learner = saturated_net(16)
    grads = learner.backward(lines())
    report = check_function(learner.cost, learner.parameters, {**grads, "dW3": grads["dW3"] * (1 + 1e-6)})
    (dW3,) = [r for r in report.rows if r.name == "dW3"]
    assert not dW3.passed and "rounding" not in dW3.note and 4e-7 < dW3.relative_error < 6e-7  # 1e-6 / 2


@needs_extended
def test_no_false_alarm_on_saturated_networks() -> None:
    failed = [seed for seed in range(40) if not check_function(
        (learner := saturated_net(seed)).cost, learner.parameters, learner.backward(lines())).passed]
    assert failed == []


def test_without_extended_precision_a_tiny_error_says_it_may_be_rounding(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("framework.learner.precision.EXTENDED", False)
    monkeypatch.setattr("framework.learner.function.EXTENDED", False)
    learner = saturated_net(16, scale=6.0)
    report = check_function(learner.cost, learner.parameters, learner.backward(lines()))
    (dW3,) = [r for r in report.rows if r.name == "dW3"]
    assert not dW3.passed and dW3.relative_error < 1e-6
    assert "on this platform np.longdouble is float64, so the check cannot ask the cost again" in dW3.note


def one_sigmoid(z: float) -> Learner:
    """One sample labelled 1 and one sigmoid unit at Z = z: the learner's dZ = -(1 - A) is as good as
    float64 holds 1 - A, about 1e-16 / e^-z of itself."""
    return Learner({"W1": np.array([[z]]), "b1": np.zeros((1, 1))}, np.array([[1.0]]), np.array([[1.0]]),
                   ("sigmoid",))


def test_a_learners_own_rounding_of_one_number_is_not_a_mistake() -> None:
    learner = one_sigmoid(27.0)  # 1 - A = 1.9e-12, held to 4e-5 of itself
    grads = learner.backward(lines())
    report = check_function(learner.cost, learner.parameters, {k: grads[k] for k in ("dW1", "db1")})
    assert report.passed, str(report)
    assert all(r.relative_error > 1e-5 and r.note.startswith("yours are the numerical values times 1 + 4.2e-05 at "
                                                             "every entry: the rounding of one number") for r in report.rows)


@needs_extended
def test_a_cost_float64_cannot_hold_is_not_checkable_rather_than_wrong() -> None:
    learner = one_sigmoid(36.0)  # 1 - A = 2.3e-16: float64 rounds it to one or two ulps of 1
    grads = learner.backward(lines())
    report = check_function(learner.cost, learner.parameters, {k: grads[k] for k in ("dW1", "db1")})
    assert not report.passed and 0.01 < report.cost_precision < 0.1
    assert "not checkable at these parameters (your cost itself is off by 0.04 in float64 here" in report.verdict
    assert "a bug" not in report.verdict


def test_a_single_entry_with_a_missing_one_over_m_is_named() -> None:
    learner, grads = course_inputs()
    report = check_function(learner.cost, learner.parameters, {"db3": grads["db3"] * 8})
    assert report.rows[0].note == "if m = 8 is your number of samples, the 1/m is missing (pass m= to say)"


def test_an_l2_term_the_check_was_not_told_of_is_named() -> None:
    learner = relu_net(lambd=0.7)
    grads = learner.backward(lines())
    report = check_backprop(learner.parameters, grads, learner.X, learner.Y, list(learner.activations))
    assert report.culprit == "dW3" and report.findings == ()
    assert report.cause == ("dW3, dW2, dW1 hold the L2 term lambd/m * W of lambd = 0.7, but check_backprop was "
                            "called without lambd (so lambd = 0): if your cost has lambd/(2m) Σ||W||², pass lambd=0.7")
    assert f"Cause: {report.cause}." in str(report)
    other = check_backprop(learner.parameters, grads, learner.X, learner.Y, list(learner.activations), lambd=0.2)
    assert other.cause is not None and "called with lambd=0.2" in other.cause and "pass lambd=0.7" in other.cause
    wrong = learner.backward(lines(dW=lambda dZ, A_prev, W, m, lambd: np.dot(dZ, A_prev.T) / m + lambd / m * W
                                   + 1e-3))  # not lambd/m * W alone: no hint
    assert check_backprop(learner.parameters, wrong, learner.X, learner.Y, list(learner.activations)).hint is None


# --- bad inputs -----------------------------------------------------------------------------------


def course_inputs() -> tuple[Learner, dict[str, Array]]:
    learner = relu_net()
    return learner, learner.backward(lines())


def test_check_function_bad_inputs_name_the_key_and_the_shapes() -> None:
    learner, grads = course_inputs()
    p, cost = learner.parameters, learner.cost
    with pytest.raises(ValueRangeError, match=r"grads\['dw1'\] matches no parameter: did you mean 'dW1'\?"):
        check_function(cost, p, {"dw1": grads["dW1"]})
    with pytest.raises(ValueRangeError, match=r"grads\['dW4'\] matches no parameter: did you mean 'dW1'\?"):
        check_function(cost, p, {"dW3": grads["dW3"], "dW2": grads["dW2"], "dW4": grads["dW1"]})  # not dW3: given
    with pytest.raises(ShapeError, match=r"db2 has shape \(1, 8\), .* summed over the wrong axis\? the sum for db runs "
                                         r"over the samples"):
        check_function(cost, p, {"db2": np.sum(grads["dZ2"], axis=0, keepdims=True) / 8}, m=8)
    with pytest.raises(ShapeError, match=r"dW1 has shape \(5, 4\), but parameter 'W1' has shape \(4, 5\): transposed\?"):
        check_function(cost, p, {"dW1": grads["dW1"].T})
    with pytest.raises(ShapeError, match=r"db1 has shape \(4,\), but parameter 'b1' has shape \(4, 1\): the 1-axis"):
        check_function(cost, p, {"db1": grads["db1"].ravel()})
    with pytest.raises(NonFiniteError, match=r"grads\['dW2'\] has 1 NaN and 0 inf entries, the first at \(0, 1\)"):
        check_function(cost, p, {"dW2": poke(grads["dW2"], (0, 1), np.nan)})
    with pytest.raises(NonFiniteError, match=r"parameters\['b3'\] has 0 NaN and 1 inf entries"):
        check_function(cost, {**p, "b3": np.full((1, 1), np.inf)}, grads)
    with pytest.raises(ShapeError, match=r"cost\(parameters\) must return the cost, a scalar, got an array of shape "
                                         r"\(1, 8\)"):
        check_function(lambda q: learner.forward(q)[0], p, grads)
    with pytest.raises(DTypeError, match=r"got a tuple: return only the cost"):
        check_function(lambda q: learner.forward(q), p, grads)
    with pytest.raises(ShapeError, match=r"got an array of shape \(1, 1\): np.squeeze\(cost\)"):
        check_function(lambda q: np.reshape(learner.cost(q), (1, 1)), p, grads)
    draws = iter(np.random.default_rng(0).random(100))
    with pytest.raises(ValueRangeError, match=r"then .* at the same parameters: it must be a function of them alone"):
        check_function(lambda q: learner.cost(q) + next(draws), p, grads)
    with pytest.raises(ValueRangeError, match="method must be one of 'auto', 'complex', 'central', got 'exact'"):
        check_function(cost, p, grads, method="exact")  # type: ignore[arg-type]
    with pytest.raises(DTypeError, match=r"parameters\['W1'\] must be a real float numpy array, got dtype int64"):
        check_function(cost, {**p, "W1": p["W1"].astype(np.int64)}, grads)


def test_check_backprop_bad_inputs_name_the_key_and_the_shapes() -> None:
    learner, grads = course_inputs()
    p, X, Y = learner.parameters, learner.X, learner.Y
    acts = ["relu", "relu", "sigmoid"]

    def run(grads: Mapping[str, Array] = grads, **changes: Any) -> BackpropReport:
        args: dict[str, Any] = {"parameters": p, "grads": grads, "X": X, "Y": Y, "activations": acts, **changes}
        return check_backprop(**args)

    cases: list[tuple[type[FrameworkError], str, Callable[[], object]]] = [
        (ValueRangeError, r"grads\['dw1'\] is no quantity of the backward: did you mean 'dW1'\?",
         lambda: run({"dw1": grads["dW1"]})),
        (ValueRangeError, r"grads\['dW4'\]: the network has 3 layers \(W1 to W3\), so dW goes from dW1 to dW3",
         lambda: run({"dW4": grads["dW3"]})),
        (ShapeError, r"dW1 has shape \(5, 4\), but W1 has shape \(4, 5\): transposed\?",
         lambda: run({"dW1": grads["dW1"].T})),
        (ShapeError, r"db2 has shape \(3,\), but b2 has shape \(3, 1\): the 1-axis is missing \(np.sum\(\.\.\., "
                     r"keepdims=True\)\?\)", lambda: run({"db2": grads["db2"].ravel()})),
        (ShapeError, r"db2 has shape \(1, 8\), but b2 has shape \(3, 1\): summed over the wrong axis\?",
         lambda: run({"db2": np.sum(grads["dZ2"], axis=0, keepdims=True)})),
        (ShapeError, r"dZ2 has shape \(8, 3\), but Z2 has shape \(3, 8\): transposed\?",
         lambda: run({"dZ2": grads["dZ2"].T})),
        (ShapeError, r"the shapes fit neither layout: the course's: W \(n_l, n_\{l-1\}\), b \(n_l, 1\), X \(n_x, m\), "
                     r"Y \(n_L, m\), but W1 has shape \(4, 5\), for 5 inputs, while X has 8 features; batch-first: "
                     r"W \(n_\{l-1\}, n_l\), b \(n_l,\), X \(m, n_x\), Y \(m, n_L\), but W1 has shape \(4, 5\), for 4 "
                     r"inputs, while X has 5 features", lambda: run(X=X.T)),
        (ShapeError, r"layout='batch-first' \(batch-first: .*\), but W1 has shape \(4, 5\), for 4 inputs, while X has "
                     r"8 features", lambda: run(layout="batch-first")),
        (ValueRangeError, r"activations has 2 entries \['relu', 'sigmoid'\], but parameters has 3 layers \(W1 to W3\)",
         lambda: run(activations=["relu", "sigmoid"])),
        (ValueRangeError, r"activations\[0\] is 'Relu', not an activation this check knows: did you mean 'relu'\?",
         lambda: run(activations=["Relu", "relu", "sigmoid"])),
        (ValueRangeError, r"the last activation, 'relu', implies no cost", lambda: run(activations=["relu"] * 3)),
        (ValueRangeError, r"parameters has no b2: a network of 3 layers", lambda: run(parameters={k: v for k, v in p.items()
                                                                                       if k != "b2"})),
        (ValueRangeError, r"parameters\['w1'\] is not a layer's W or b: did you mean 'W1'\?",
         lambda: run(parameters={**p, "w1": p["W1"]})),
        (NonFiniteError, r"X has 1 NaN and 0 inf entries, the first at \(0, 0\)", lambda: run(X=poke(X, (0, 0), np.nan))),
        (NonFiniteError, r"grads\['dA2'\] has 0 NaN and 1 inf entries, the first at \(1, 5\)",
         lambda: run({**grads, "dA2": poke(grads["dA2"], (1, 5), np.inf)})),
        (ValueRangeError, r"Y must lie in \[0, 1\] for a sigmoid output \(cross-entropy\), got values from 0 to 2",
         lambda: run(Y=2 * Y)),
        (ValueRangeError, r"lambd must be a finite number >= 0, got -1", lambda: run(lambd=-1)),
        (ValueRangeError, r"layout must be 'auto', 'course' or 'batch-first', got 'rows'", lambda: run(layout="rows")),
    ]
    before = fingerprint(p, grads, {"X": X, "Y": Y})
    for error, message, call in cases:
        with pytest.raises(error, match=message):
            call()
    assert fingerprint(p, grads, {"X": X, "Y": Y}) == before


def test_a_softmax_output_needs_two_classes() -> None:
    learner = network([3, 2, 1], ["relu", "sigmoid"])
    with pytest.raises(ShapeError, match=r"a softmax output needs at least 2 units \(classes\), W2 has 1"):
        check_backprop(learner.parameters, {}, learner.X, learner.Y, ["relu", "softmax"])


# --- the example ----------------------------------------------------------------------------------


def test_the_example_answers_the_seeds_question() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "examples/learner_backprop.py"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env=env)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    out = done.stdout
    assert "NOT close enough: dZ3 is wrong, a relative error of 1: a bug, not rounding" in out
    assert "Culprit: dZ3, the first wrong quantity in backward order; dA3, before it, is right" in out
    assert "Cause: dZ3 = dA3 * sigmoid'(Z3) was evaluated on Z3: the sigmoid's derivative is A3 * (1 - A3)" in out
    assert "Also: dW3 is 64 times too large: the 1/m is missing: dW3 = 1/m * np.dot(dZ3, A2.T)." in out
    assert ("NOT close enough: dW3 is off by a relative error of 1 (at (0, 0): yours -0.000306206, numerical "
            "0.000725903): a bug, not rounding") in out
    assert out.count("Close enough: yes.") == 2
    assert "3 entries sit on a kink" in out
