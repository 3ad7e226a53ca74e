"""check_backprop on a network written by hand the way the course writes it (numpy functions, a
parameters dict, caches, a grads dict): each classic mistake named as the culprit and its cause, no
false alarm on a correct network, and every bad input."""

import os
import re
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framework import (
    BackpropReport, FrameworkError, NonFiniteError, ShapeError, ValueRangeError, check_backprop, check_function,
)
from framework.core.arrays import Array
from framework.learner import CATALOGUE
from tests.helpers.learner import (
    Convention, Layout, Learner, Lines, course_inputs, fingerprint, lines, network, poke, relu_net,
)

ROOT = Path(__file__).resolve().parents[2]


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
                     r"inputs, while X has 5 features; with X.T they fit the course layout: X transposed\?$",
         lambda: run(X=X.T)),
        (ShapeError, r"but Y has shape \(8, 1\), where X \(5, 8\) and W3 want \(1, 8\); .*; with Y.T they fit the course "
                     r"layout: Y transposed\?$", lambda: run(Y=Y.T)),
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


def test_a_mistake_outside_the_catalogue_sends_the_learner_to_the_culprits_line() -> None:
    """No classic mistake reproduces noise added to dZ2: the cause says to compare by hand from the
    culprit's row, or from the rows' notes where a wrong row has one (a constant factor)."""
    learner = relu_net()
    right = learner.backward(lines())
    noisy = {**right, "dZ2": right["dZ2"] + np.random.default_rng(0).standard_normal(right["dZ2"].shape)}
    scaled = {**right, "dZ2": -1.7 * right["dZ2"]}
    for grads, start in ((noisy, "the culprit's, yours against the true value in its row"),
                         (scaled, "what the rows' notes say of yours against the true values")):
        report = check_backprop(learner.parameters, grads, learner.X, learner.Y, list(learner.activations))
        assert report.culprit == "dZ2", str(report)
        assert (f"Cause: none of the classic mistakes in the catalogue reproduces it; compare your lines by hand, "
                f"starting from {start}.") in str(report).splitlines()


def test_a_saturated_output_is_named_once_with_its_cause() -> None:
    """Unscaled pixels (0 to 255) saturate a sigmoid output at exactly 1 for a sample labelled 0: the
    error says which output and why, under one prefix (it said 'check_backprop: ...: check_backprop: ...')."""
    learner = network([40, 3, 1], ["relu", "sigmoid"], m=5)
    X = np.random.default_rng(0).integers(0, 256, (40, 5)).astype(np.float64)
    P = {**learner.parameters, "W2": -learner.parameters["W2"]}
    Z2 = P["W2"] @ np.maximum(P["W1"] @ X + P["b1"], 0) + P["b2"]
    assert (Z2 > 37).sum() == 4  # sigmoid(Z2) is 1 exactly in float64
    Y = np.zeros((1, 5))
    with pytest.raises(NonFiniteError) as caught:
        check_backprop(P, {"dW1": np.zeros((3, 40))}, X, Y, ["relu", "sigmoid"])
    message = str(caught.value)
    assert re.match(r"check_backprop: the output A2\[0, \d\] is exactly 1 in float64 \(Z2 = [\d.]+\) for a sample "
                    r"labelled 0, so the cost's log\(1 - A2\) is infinite there", message), message
    assert message.count("check_backprop") == 1


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
