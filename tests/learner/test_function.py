"""check_function on a learner's own cost and gradients: a correct network passes, costs that are not
complex-step safe, sampling, float32, a saturated sigmoid told from a bug by extended precision, and
every bad input."""

import re
from collections.abc import Callable, Mapping
from typing import Literal

import attrs
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framework import DTypeError, NonFiniteError, ShapeError, ValueRangeError, check_function
from framework.core.arrays import Array
from framework.learner.function import FULL_UP_TO
from framework.learner.precision import EXTENDED
from tests.helpers.learner import Layout, Learner, course_inputs, fingerprint, lines, network, poke, relu_net


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


def chained_kinks(mask_at_zero: float) -> tuple[dict[str, Array], dict[str, Array], Callable[[Mapping[str, Array]], float]]:
    """4-4-3-1 with zero biases and 3 all-zero samples: Z1 = 0 there, and so Z2 = W2 relu(Z1) = 0, a
    kink feeding a kink; the learner's masks take `mask_at_zero` at Z = 0. The cost, the parameters and
    the gradients (found by a new-user review)."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((4, 20))
    X[:, :3] = 0.0
    Y = (rng.random((1, 20)) > 0.5).astype(float)
    P: dict[str, Array] = {"W1": rng.standard_normal((4, 4)), "b1": np.zeros((4, 1)), "W2": rng.standard_normal((3, 4)),
         "b2": np.zeros((3, 1)), "W3": rng.standard_normal((1, 3)), "b3": np.zeros((1, 1))}

    def forward(p: Mapping[str, Array]) -> tuple[Array, ...]:
        Z1 = p["W1"] @ X + p["b1"]
        A1 = np.maximum(0, Z1)
        Z2 = p["W2"] @ A1 + p["b2"]
        A2 = np.maximum(0, Z2)
        return 1 / (1 + np.exp(-(p["W3"] @ A2 + p["b3"]))), Z1, A1, Z2, A2

    def cost(p: Mapping[str, Array]) -> float:
        A3 = forward(p)[0]
        cost: float = -np.mean(Y * np.log(A3) + (1 - Y) * np.log(1 - A3))  # complex, under the complex step
        return cost

    A3, Z1, A1, Z2, A2 = forward(P)

    def mask(Z: Array) -> Array:
        return np.where(Z > 0, 1.0, np.where(Z == 0, mask_at_zero, 0.0))

    dZ3 = A3 - Y
    dZ2 = P["W3"].T @ dZ3 * mask(Z2)
    dZ1 = P["W2"].T @ dZ2 * mask(Z1)
    m = X.shape[1]
    grads: dict[str, Array] = {"dW3": dZ3 @ A2.T / m, "db3": dZ3.sum(1, keepdims=True) / m, "dW2": dZ2 @ A1.T / m,
             "db2": dZ2.sum(1, keepdims=True) / m, "dW1": dZ1 @ X.T / m, "db1": dZ1.sum(1, keepdims=True) / m}
    return P, grads, cost


def test_at_chained_kinks_a_value_outside_the_one_sided_slopes_is_named_so() -> None:
    P, left, cost = chained_kinks(0.0)
    report = check_function(cost, P, left)
    assert report.passed, str(report)
    assert "np.maximum(0, Z) where Z is 0 exactly, a kink: it then compares the imaginary parts" in str(report)
    P, taking_one, cost = chained_kinks(1.0)
    report = check_function(cost, P, taking_one)
    assert not report.passed and [r.name for r in report.rows if not r.passed] == ["db1"]
    (db1,) = [r for r in report.rows if r.name == "db1"]
    assert re.match(r"\(\d, 0\) sits on a kink: the slope is -?[\d.e-]+ from the left and -?[\d.e-]+ from the right, and "
                    r"yours, -?[\d.e-]+, lies outside them: no subgradient of your cost there. Where a ReLU at Z = 0 "
                    r"feeds another", db1.note), db1.note


def test_the_headline_names_the_wrong_gradient_nearest_the_output() -> None:
    """A mistake in a layer carries into the layers below it: the headline names dW3 (off by 1%), not
    the worse dW1 (off by 2x), as check_backprop names the first wrong quantity in backward order."""
    learner = relu_net()
    right = learner.backward(lines())
    grads = {k: v for k, v in right.items() if k.startswith(("dW", "db"))}
    grads = {**grads, "dW3": 1.01 * grads["dW3"], "dW1": 3 * grads["dW1"]}
    report = check_function(learner.cost, learner.parameters, grads)
    assert report.verdict.startswith("NOT close enough: dW3 is off by a relative error of 0.005 "), report.verdict
    assert {r.name for r in report.rows if not r.passed} == {"dW1", "dW3"}


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
