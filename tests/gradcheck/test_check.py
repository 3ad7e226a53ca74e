"""The gradient checker: it passes correct layers and models by both methods, it catches and names
each classic backprop bug written the way a learner writes it, and it leaves the model as it was."""

import math
import re
from collections.abc import Callable
from typing import Literal

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framework import (
    BatchNorm,
    BCELoss,
    Dense,
    Dropout,
    Embedding,
    FrameworkError,
    GradCheckReport,
    Input,
    Layer,
    Loss,
    Model,
    Parameter,
    ReLU,
    Sequential,
    Sigmoid,
    check_gradients,
    check_layer,
    check_loss,
)
from framework.core.arrays import Array, Labels, Scalar, Shape
from framework.core.complex_parts import joined
from framework.gradcheck import numeric
from framework.core.protocols import Network
from models import four_three_one, mlp_classifier

Method = Literal["complex", "central"]
METHODS: tuple[Method, ...] = ("complex", "central")
Floats = npt.NDArray[np.float64]


def labels(rng: np.random.Generator, m: int) -> Floats:
    return rng.integers(0, 2, (m, 1)).astype(np.float64)


def failed_rows(report: GradCheckReport) -> set[str]:
    return {row.name for row in report.rows if not row.passed}


def failures(report: GradCheckReport) -> str:
    """The failing rows, for an assertion message."""
    rows = [(part.subject, r) for part in (report, *report.parts) for r in part.rows if not r.passed]
    return "; ".join(f"{subject} {r.name}: {r.worst_backward:.6g} vs {r.worst_numeric:.6g} "
                     f"(relative error {r.relative_error:.2e}) {r.note}" for subject, r in rows)


# --- layers written the way a learner writes them ------------------------------------------------


class LearnerDense(Layer):
    """y = x W + b, with its backward written out by hand (correct)."""

    def __init__(self, n_in: int, n_out: int, seed: int) -> None:
        super().__init__()
        rng = np.random.default_rng(seed)
        self.W = Parameter(rng.standard_normal((n_in, n_out)) * math.sqrt(2 / n_in))
        self.b = Parameter(0.1 * rng.standard_normal(n_out))
        self.x: Array | None = None

    def forward(self, x: Array) -> Array:
        self.x = x
        return x @ self.W.value + self.b.value

    def backward(self, grad: Array) -> Array:
        x = self.cached(self.x)
        self.W.grad[...] = x.T @ grad
        self.b.grad[...] = grad.sum(axis=0)
        return grad @ self.W.value.T

    def output_shape(self, input_shape: Shape) -> Shape:
        return (*input_shape[:-1], self.W.shape[1])


class DenseWithoutTranspose(LearnerDense):
    def backward(self, grad: Array) -> Array:
        x = self.cached(self.x)
        self.W.grad[...] = x.T @ grad
        self.b.grad[...] = grad.sum(axis=0)
        return grad @ self.W.value  # BUG: dL/dx = g Wᵀ; square W hides it from the shapes


class DenseMeanBias(LearnerDense):
    def backward(self, grad: Array) -> Array:
        x = self.cached(self.x)
        self.W.grad[...] = x.T @ grad
        self.b.grad[...] = grad.mean(axis=0)  # BUG: the 1/m is already in the loss's gradient
        return grad @ self.W.value.T


class DenseWeightGradOffByOnePpb(LearnerDense):
    def backward(self, grad: Array) -> Array:
        x = self.cached(self.x)
        self.W.grad[...] = (x.T @ grad) * (1 + 1e-9)  # BUG, far below what central differences resolve
        self.b.grad[...] = grad.sum(axis=0)
        return grad @ self.W.value.T


class LearnerSigmoid(Layer):
    def __init__(self) -> None:
        super().__init__()
        self.z: Array | None = None
        self.a: Array | None = None

    def forward(self, x: Array) -> Array:
        self.z = x
        self.a = 1 / (1 + np.exp(-x))
        return self.a


class SigmoidDerivativeOnZ(LearnerSigmoid):
    def backward(self, grad: Array) -> Array:
        z = self.cached(self.z)
        return grad * z * (1 - z)  # BUG: sigmoid' = a(1 - a), on the activation


class SigmoidDroppingUpstream(LearnerSigmoid):
    def backward(self, grad: Array) -> Array:
        a = self.cached(self.a)
        return a * (1 - a)  # BUG: dL/dz = dL/da · a(1 - a)


class ReLUMaskFromGradient(Layer):
    def __init__(self) -> None:
        super().__init__()
        self.x: Array | None = None

    def forward(self, x: Array) -> Array:
        self.x = x
        return np.where(x.real > 0, x, 0)

    def backward(self, grad: Array) -> Array:
        self.cached(self.x)
        return np.where(grad > 0, grad, 0)  # BUG: the mask is x > 0, not grad > 0


class BCEWithoutOneOverM(Loss):
    def __init__(self) -> None:
        self.cache: tuple[Array, Array] | None = None

    def forward(self, y_pred: Array, y_true: Labels) -> Scalar:
        a, y = y_pred, np.asarray(y_true, dtype=np.float64)
        self.cache = a, y
        cost = -np.mean(y * np.log(a) + (1 - y) * np.log(1 - a))
        return complex(cost) if np.iscomplexobj(cost) else float(cost)

    def backward(self) -> Array:
        a, y = self.cached(self.cache)
        return (a - y) / (a * (1 - a))  # BUG: the mean's 1/m is left out


def learner_model(middle: Layer | None = None, activation: Layer | None = None, last: Layer | None = None) -> Sequential:
    """Dense(5 -> 4), ReLU, Dense(4 -> 4), ReLU, Dense(4 -> 1), Sigmoid, with any of layers 1, 2, 5 replaced."""
    return Sequential([LearnerDense(5, 4, seed=1), activation or ReLU(), middle or LearnerDense(4, 4, seed=2), ReLU(),
                       LearnerDense(4, 1, seed=3), last or Sigmoid()])


def learner_data(m: int = 8) -> tuple[Floats, Floats]:
    rng = np.random.default_rng(11)
    return rng.standard_normal((m, 5)), labels(rng, m)


# --- (1) properties: built-in layers and random models pass by both methods ----------------------

SEEDS = st.integers(0, 2**32 - 1)


@settings(max_examples=30)
@given(batch=st.integers(2, 20), n_in=st.integers(1, 12), n_out=st.integers(1, 6), seed=SEEDS,
       random_bias=st.booleans(), float32=st.booleans())
def test_dense_passes_check_layer(batch: int, n_in: int, n_out: int, seed: int, random_bias: bool,
                                  float32: bool) -> None:
    rng = np.random.default_rng(seed)
    dtype = np.float32 if float32 else np.float64
    layer = Dense(n_in, n_out, seed=seed, dtype=dtype)
    if random_bias:
        layer.b.value[...] = rng.standard_normal(n_out)
    x: Array = rng.standard_normal((batch, n_in)).astype(dtype)
    for method in METHODS:
        report = check_layer(layer, x, method=method, seed=seed)
        assert report.passed, failures(report)
        assert [(r.name, r.checked) for r in report.rows] == [("input", batch * n_in), ("W", n_in * n_out),
                                                              ("b", n_out)]


@settings(max_examples=30)
@given(batch=st.integers(2, 20), features=st.integers(1, 12), seed=SEEDS, zeros=st.floats(0.0, 0.5))
def test_relu_passes_check_layer_on_and_off_its_kink(batch: int, features: int, seed: int, zeros: float) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, features))
    x[rng.random(x.shape) < zeros] = 0.0
    for method in METHODS:
        report = check_layer(ReLU(), x, method=method, seed=seed)
        assert report.passed, failures(report)
        assert report.rows[0].checked == x.size


@settings(max_examples=30)
@given(batch=st.integers(2, 20), features=st.integers(1, 12), seed=SEEDS, scale=st.floats(0.1, 10.0))
def test_sigmoid_passes_check_layer(batch: int, features: int, seed: int, scale: float) -> None:
    x = scale * np.random.default_rng(seed).standard_normal((batch, features))
    for method in METHODS:
        report = check_layer(Sigmoid(), x, method=method, seed=seed)
        assert report.passed, failures(report)


@settings(max_examples=30)
@given(batch=st.integers(2, 20), columns=st.integers(1, 3), seed=SEEDS)
def test_bce_passes_check_loss(batch: int, columns: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    y_pred = rng.uniform(0.01, 0.99, (batch, columns))
    y_true = rng.integers(0, 2, (batch, columns)).astype(np.float64)
    for method in METHODS:
        report = check_loss(BCELoss(), y_pred, y_true, method=method)
        assert report.passed, failures(report)


@settings(max_examples=25)
@given(batch=st.integers(2, 20), features=st.integers(1, 12), hidden=st.lists(st.integers(1, 6), min_size=1, max_size=2),
       seed=SEEDS, zero_row=st.booleans())
def test_random_models_pass_check_gradients(batch: int, features: int, hidden: list[int], seed: int,
                                            zero_row: bool) -> None:
    rng = np.random.default_rng(seed)
    model = mlp_classifier(features, hidden, seed=seed)
    x = rng.standard_normal((batch, features))
    if zero_row:
        x[0] = 0.0  # with zero biases, the first hidden layer sits on ReLU's kink for this sample
    y = labels(rng, batch)
    for method in METHODS:
        report = check_gradients(model, BCELoss(), x, y, method=method, seed=seed)
        assert report.passed, f"{method}: {failures(report)}"
        assert [r.name for r in report.rows] == [name for name, _ in model.named_parameters()]
        assert all(r.checked == p.size for r, p in zip(report.rows, model.parameters(), strict=True))


# --- (2) no false failure on correct models, on ReLU's kinks included ----------------------------


@pytest.mark.parametrize("seed", range(30))
def test_no_false_failure_on_correct_models(seed: int) -> None:
    rng = np.random.default_rng(1000 + seed)
    m, n = int(rng.integers(2, 21)), int(rng.integers(1, 13))
    hidden = [int(h) for h in rng.integers(1, 7, size=int(rng.integers(1, 3)))]
    model = mlp_classifier(n, hidden, seed=seed)  # Dense biases are zero
    x = rng.standard_normal((m, n))
    x[int(rng.integers(m))] = 0.0  # one sample on the kinks of the first ReLU
    y = labels(rng, m)
    dead = np.zeros((m, n))  # every hidden unit of every sample on its kink: the hidden layers are dead
    wrong = []
    for inputs, what in ((x, "zero row"), (dead, "dead hidden layers")):
        for method in METHODS:
            report = check_gradients(model, BCELoss(), inputs, y, method=method, seed=seed)
            if not report.passed:
                wrong.append(f"{what}, {method}: {failures(report)}")
    assert not wrong, f"model {n} -> {hidden} -> 1, m = {m}: " + " | ".join(wrong)


# --- (3) each classic bug is caught and localized ------------------------------------------------

BugCase = tuple[Callable[[], Sequential], Callable[[], Loss], str, set[str]]
BUGS: dict[str, BugCase] = {
    "sigmoid derivative on Z": (lambda: learner_model(last=SigmoidDerivativeOnZ()), BCELoss,
                                "layer 5 SigmoidDerivativeOnZ()", {"0.W", "0.b", "2.W", "2.b", "4.W", "4.b"}),
    "BCE without 1/m": (learner_model, BCEWithoutOneOverM, "loss BCEWithoutOneOverM()",
                        {"0.W", "0.b", "2.W", "2.b", "4.W", "4.b"}),
    "bias gradient averaged": (lambda: learner_model(middle=DenseMeanBias(4, 4, seed=2)), BCELoss,
                               "layer 2 DenseMeanBias()", {"2.b"}),
    "dx without the transpose": (lambda: learner_model(middle=DenseWithoutTranspose(4, 4, seed=2)), BCELoss,
                                 "layer 2 DenseWithoutTranspose()", {"0.W", "0.b"}),
    "ReLU mask from the gradient": (lambda: learner_model(activation=ReLUMaskFromGradient()), BCELoss,
                                    "layer 1 ReLUMaskFromGradient()", {"0.W", "0.b"}),
    "upstream gradient dropped": (lambda: learner_model(last=SigmoidDroppingUpstream()), BCELoss,
                                  "layer 5 SigmoidDroppingUpstream()", {"0.W", "0.b", "2.W", "2.b", "4.W", "4.b"}),
}


@pytest.mark.parametrize("method", METHODS)
def test_correct_learner_layers_pass(method: Method) -> None:
    x, y = learner_data()
    report = check_gradients(learner_model(), BCELoss(), x, y, method=method)
    assert report.passed, failures(report)
    assert report.culprits == ()
    assert len(report.parts) == 7


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("bug", list(BUGS))
def test_bug_is_caught_and_localized(bug: str, method: Method) -> None:
    build, make_loss, culprit, wrong_rows = BUGS[bug]
    x, y = learner_data()
    report = check_gradients(build(), make_loss(), x, y, method=method)
    assert report.passed is False
    assert report.culprits == (culprit,)
    assert failed_rows(report) == wrong_rows
    for part in report.parts:
        assert part.passed is (part.subject != culprit), part.subject
    assert f"WRONG: the backward of {culprit}" in str(report)


@pytest.mark.parametrize("method", METHODS)
def test_missing_one_over_m_is_diagnosed(method: Method) -> None:
    x, y = learner_data(m=8)
    report = check_gradients(learner_model(), BCEWithoutOneOverM(), x, y, method=method)
    for row in report.rows:
        assert row.worst_backward == pytest.approx(8 * row.worst_numeric, rel=1e-6)
        if row.checked > 1:
            assert "= the batch size m: missing 1/m?" in row.note, row.name
    (loss_row,) = report.parts[-1].rows
    assert loss_row.name == "y_pred" and "missing 1/m" in loss_row.note
    assert loss_row.relative_error == pytest.approx(7 / 9, rel=1e-6)  # |8g - g| / (|8g| + |g|)


@pytest.mark.parametrize("method", METHODS)
def test_averaged_bias_gradient_is_diagnosed_as_one_over_m(method: Method) -> None:
    x, y = learner_data(m=8)
    report = check_gradients(learner_model(middle=DenseMeanBias(4, 4, seed=2)), BCELoss(), x, y, method=method)
    (row,) = [r for r in report.rows if not r.passed]
    assert row.name == "2.b" and "= 1/m: divided by m twice" in row.note
    assert row.worst_backward == pytest.approx(row.worst_numeric / 8, rel=1e-6)
    part = next(p for p in report.parts if p.subject == "layer 2 DenseMeanBias()")
    assert [(r.name, r.passed) for r in part.rows] == [("input", True), ("W", True), ("b", False)]
    assert "= 1/m" in part.rows[2].note


def test_dx_without_transpose_fails_only_the_input_row_of_its_layer() -> None:
    x, y = learner_data()
    report = check_gradients(learner_model(middle=DenseWithoutTranspose(4, 4, seed=2)), BCELoss(), x, y)
    part = next(p for p in report.parts if not p.passed)
    assert [(r.name, r.passed) for r in part.rows] == [("input", False), ("W", True), ("b", True)]


def test_dropped_upstream_gradient_fails_the_layer_input_row() -> None:
    layer = SigmoidDroppingUpstream()
    report = check_layer(layer, np.random.default_rng(0).standard_normal((6, 3)))
    assert [(r.name, r.passed) for r in report.rows] == [("input", False)]
    assert report.rows[0].relative_error > 0.1


@pytest.mark.parametrize(
    ("wrong", "words"),
    [
        (SigmoidDerivativeOnZ, ("sigmoid'(x) was evaluated on x", "dL/dx = grad * y * (1 - y)")),
        (SigmoidDroppingUpstream, ("dL/dx is the activation's derivative alone", "the gradient that reaches it, grad")),
        (ReLUMaskFromGradient, ("masked where grad > 0, not where x > 0", "dL/dx = grad * (x > 0)")),
        (DenseWithoutTranspose, ("dL/dx uses W where it needs its transpose", "dL/dx = np.dot(grad, W.T)")),
        (DenseMeanBias, ("dL/db is a mean over the samples", "dL/db = np.sum(grad, axis=0)")),
    ],
)
def test_a_wrong_part_is_matched_against_the_catalogue_of_classic_mistakes(wrong: type[Layer], words: tuple[str, ...]) -> None:
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((8, 3)), labels(rng, 8)
    middle = wrong(3, 3, seed=5) if issubclass(wrong, LearnerDense) else wrong()
    model = Sequential([Dense(3, 3, seed=0), middle, Dense(3, 1, seed=1), Sigmoid()])
    report = check_gradients(model, BCELoss(), x, y)
    part = next(p for p in report.parts if not p.passed)
    assert part.subject == f"layer 1 {middle!r}"
    for text in words:
        assert text in part.cause, part.cause
    assert f"Likely mistake: {part.cause}" in str(report)
    assert report.cause == part.cause and str(report).count("Likely mistake") == 1  # the model's is its part's
    assert check_layer(wrong(3, 3, seed=5) if issubclass(wrong, LearnerDense) else wrong(), x).cause == part.cause


def test_no_mistake_is_named_for_a_part_of_another_kind_or_a_mistake_not_in_the_catalogue() -> None:
    x = np.random.default_rng(0).standard_normal((6, 3))
    assert check_layer(TimesAbsThreeTimes(), x).cause == ""  # neither an activation of the catalogue nor dense
    assert check_layer(DenseBiasSignFlipped(3, 2, seed=0), x).cause == ""  # no entry reproduces it
    assert check_layer(Dense(3, 2, seed=0), x).cause == ""  # right: nothing to name


class DenseBiasSignFlipped(LearnerDense):
    def backward(self, grad: Array) -> Array:
        dx = super().backward(grad)
        self.b.grad[...] = -grad.sum(axis=0)  # BUG: the sign
        return dx


class DenseBiasGradZero(LearnerDense):
    def backward(self, grad: Array) -> Array:
        dx = super().backward(grad)
        self.b.grad[...] = 0.0  # BUG: the upstream gradient is not used
        return dx


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("layer_class", "diagnosis"), [
    (DenseBiasSignFlipped, "backward/numeric = -1 for every entry: the sign is flipped?"),
    (DenseBiasGradZero, "backward/numeric = 0 for every entry: backward gives zero where the numerical gradient is "
                        "not; is the upstream gradient dropped?"),
], ids=["sign", "zero"])
def test_a_constant_ratio_of_minus_one_or_zero_is_diagnosed_in_a_sentence(
    layer_class: type[LearnerDense], diagnosis: str, method: Method
) -> None:
    report = check_layer(layer_class(4, 3, seed=2), np.random.default_rng(0).standard_normal((6, 4)), method=method)
    assert [(r.name, r.passed) for r in report.rows] == [("input", True), ("W", True), ("b", False)]
    assert report.rows[2].note == diagnosis


def test_directional_mode_checks_a_tensor_of_fewer_entries_than_directions_entry_by_entry() -> None:
    x = np.random.default_rng(0).standard_normal((6, 4))
    report = check_layer(DenseBiasSignFlipped(4, 30, seed=2), x, mode="directional")  # b: 30 entries, 16 directions
    assert [r.checked for r in report.rows] == [16, 16, 16]
    assert report.rows[2].note == "backward/numeric = -1 for every direction: the sign is flipped?"
    small = check_layer(DenseBiasSignFlipped(4, 3, seed=2), x, mode="directional")  # b: 3 entries
    assert [r.checked for r in small.rows] == [16, 12, 3]
    assert small.rows[2].note == "backward/numeric = -1 for every entry: the sign is flipped?"
    assert small.rows[2].worst.startswith("(")  # an entry, not a direction v<i>


class ScaledDense(Dense):
    """Dense whose dL/dW is `factor` times too large."""

    def __init__(self, in_features: int, out_features: int, factor: float, seed: int) -> None:
        super().__init__(in_features, out_features, seed=seed)
        self.factor = factor

    def backward(self, grad: Array) -> Array:
        out = super().backward(grad)
        self.W.grad *= self.factor
        return out


class ScaledLinear(Layer):
    """x W, no bias, its dL/dW `factor` times too large (a new user's, found by a review)."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor
        self.W = Parameter(np.random.default_rng(0).standard_normal((3, 3)) * 0.5, name="W")

    def forward(self, x: Array) -> Array:
        self.x = x
        return x @ self.W.value

    def backward(self, grad: Array) -> Array:
        self.W.grad[...] = (self.x.T @ grad) * self.factor
        return grad @ self.W.value.T


def small_gradients_model(factor: float) -> Sequential:
    return Sequential([Dense(3, 3, seed=0), ReLU(), ScaledLinear(factor), ReLU(), Dense(3, 1, seed=2), Sigmoid()])


@pytest.mark.parametrize("factor", [1 + 1e-6, 1.0])
def test_central_differences_catch_one_part_per_million_on_a_tensor_of_small_gradients(factor: float) -> None:
    """2.W's gradients are a tenth of the cost, the scale of the check's tolerance for gradients that are
    about 0: the threshold times that scale let its 1e-6 pass; the quotients' rounding does not."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 3))
    y = (x[:, :1] > 0).astype(np.float64)
    model, loss = small_gradients_model(factor), BCELoss()
    report = check_gradients(model, loss, x, y, method="central", localize=False)
    cost = float(loss.forward(model.forward(x), y).real)
    model.backward(loss.backward())
    assert float(np.abs(dict(model.named_parameters())["2.W"].grad).max()) < 0.11 * cost
    if factor == 1.0:
        assert report.passed, failures(report)
    else:
        assert failed_rows(report) == {"2.W"}
        assert {r.name: r for r in report.rows}["2.W"].relative_error == pytest.approx(0.5e-6, rel=1e-2)  # 1e-6/(2+1e-6)


def test_gradients_of_1e_13_are_checked_by_the_complex_step_and_said_unresolved_by_central_differences() -> None:
    """Weights of 1e-6 make the first layers' gradients 1e-13: a factor 2 on them is far below the
    threshold times the cost (6.9e-12), which passed it; the complex step, exact there, fails it, and
    central differences, which cannot resolve it, say that the check proves nothing about it."""
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 6)), labels(rng, 16)
    model = Sequential([Dense(6, 4, seed=0), ReLU(), ScaledDense(4, 3, 2.0, seed=1), ReLU(), Dense(3, 1, seed=2),
                        Sigmoid()])
    for p in model.parameters():
        p.value *= 1e-6
    exact = check_gradients(model, BCELoss(), x, y, method="complex", localize=False)
    assert failed_rows(exact) == {"2.W"}
    central = check_gradients(model, BCELoss(), x, y, method="central", localize=False)
    row = {r.name: r for r in central.rows}["2.W"]
    assert row.passed and "within what central differences resolve of 0 here" in row.note
    assert "the check proves nothing about this tensor; method='complex' checks it" in row.note


def saturated_model(factor: float) -> tuple[Sequential, Floats, Floats]:
    """A 7-1-2-1 model whose sigmoid gives one sample 1 - 3e-6 (Hypothesis found it), its layer 2
    dL/dW `factor` times too large."""
    rng = np.random.default_rng(287)
    built = mlp_classifier(7, [1, 2], seed=287)
    model = Sequential([Dense(7, 1), ReLU(), ScaledDense(1, 2, factor, seed=0), ReLU(), Dense(2, 1), Sigmoid()])
    for mine, theirs in zip(model.parameters(), built.parameters(), strict=True):
        mine.value[...] = theirs.value
    return model, rng.standard_normal((2, 7)), labels(rng, 2)


def test_a_saturated_sigmoid_raises_the_complex_threshold_to_the_costs_rounding() -> None:
    """Under BCE's log(1 - a), a = 1 - 3e-6 keeps 11 digits: a right backward and the complex step differ
    by 1.2e-11, over float64's 1e-11; the threshold is raised to the cost's rounding, and says so."""
    model, x, y = saturated_model(1.0)
    a = model.forward(x)
    assert 1e-6 < 1 - float(a.max()) < 1e-5
    rounding = BCELoss().rounding(a)
    assert rounding == pytest.approx(np.finfo(np.float64).eps * float(a.max()) / (1 - float(a.max())))
    report = check_gradients(model, BCELoss(), x, y, method="complex", localize=False)
    assert report.passed, failures(report)
    assert report.threshold == pytest.approx(4 * rounding) and report.threshold > 1e-11
    assert any(w.startswith(f"threshold {report.threshold:.1e}, not 1.0e-11: BCELoss()") for w in report.warnings)
    assert max(r.relative_error for r in report.rows) > 1e-11  # what the default threshold failed
    wrong = check_gradients(saturated_model(1 + 1e-9)[0], BCELoss(), x, y, method="complex", localize=False)
    assert failed_rows(wrong) == {"2.W"}  # one part per billion is still caught there
    assert BCELoss().rounding(np.full((3, 1), 0.5)) == np.finfo(np.float64).eps  # no amplification


def test_one_part_per_billion_in_a_weight_gradient_fails_complex_and_passes_central() -> None:
    x, y = learner_data()
    model = learner_model(middle=DenseWeightGradOffByOnePpb(4, 4, seed=2))
    exact = check_gradients(model, BCELoss(), x, y, method="complex")
    assert exact.passed is False
    assert exact.culprits == ("layer 2 DenseWeightGradOffByOnePpb()",)
    assert failed_rows(exact) == {"2.W"}
    (row,) = [r for r in exact.rows if not r.passed]
    assert row.relative_error == pytest.approx(0.5e-9, rel=1e-3)  # 1e-9 / (2 + 1e-9)
    assert row.worst_backward == pytest.approx(row.worst_numeric * (1 + 1e-9), rel=1e-12)
    central = check_gradients(model, BCELoss(), x, y, method="central")
    assert central.passed, failures(central)
    assert central.culprits == ()


class CountingBCE(BCELoss):
    """BCELoss that counts how often it checks its inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.checks = 0

    def check(self, y_pred: Array, y_true: Labels) -> Labels:
        self.checks += 1
        return super().check(y_pred, y_true)


def test_the_loss_checks_its_inputs_once_per_check_not_once_per_probe() -> None:
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((6, 12)), labels(rng, 6)
    counts = []
    for features in (3, 12):
        loss = CountingBCE()
        report = check_gradients(four_three_one(features, seed=4), loss, x[:, :features], y, method="complex")
        assert report.passed, failures(report)
        counts.append(loss.checks)
    assert counts[0] == counts[1] < 10


# --- (3b) a backward that adds to its grads instead of setting them ----------------------------------


class ScaleAddingToGrad(Layer):
    """y = x·s, with the PyTorch habit in backward: it adds to s.grad, where the framework's backward
    sets it (optimizers never zero the grads, so fit would train on the sum of every step's)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.s = Parameter(np.linspace(0.5, 1.5, n), name="s")
        self.x: Array | None = None

    def forward(self, x: Array) -> Array:
        self.x = x
        return x * self.s.value

    def backward(self, grad: Array) -> Array:
        self.s.grad += (grad * self.cached(self.x)).sum(axis=0)  # BUG: self.s.grad[...] = ...
        return grad * self.s.value


def adds_to_grad_note(second: float, where: str, first: float) -> str:
    return (f"backward adds to p.grad (p.grad += ...) instead of setting it (p.grad[...] = ...): run again at the "
            f"same point with the same upstream gradient, it gave {second:.6g} at {where} where the first run gave "
            f"{first:.6g}, so gradients accumulate from step to step and fit would train on their sum")


@pytest.mark.parametrize("method", METHODS)
def test_a_backward_that_adds_to_its_grads_fails_check_layer_with_the_numbers(method: Method) -> None:
    x = np.random.default_rng(5).standard_normal((6, 3))
    layer = ScaleAddingToGrad(3)
    layer.s.grad[...] = [5.0, 6.0, 7.0]  # left by an earlier step: the check neither starts from it nor keeps its own
    report = check_layer(layer, x, method=method)
    assert report.passed is False and failed_rows(report) == {"s"}
    first = (np.random.default_rng(0).standard_normal(x.shape) * x).sum(axis=0)  # check_layer's upstream, seed 0
    k = int(np.argmax(np.abs(first)))
    (row,) = [r for r in report.rows if r.name == "s"]
    assert row.relative_error < report.threshold  # the first backward, from a zero grad, is right
    assert row.worst_backward == pytest.approx(first[int(row.worst.strip("(,)"))], rel=1e-12)
    assert row.note == adds_to_grad_note(2 * first[k], f"({k},)", first[k])  # the second run gave twice the first
    np.testing.assert_array_equal(layer.s.grad, [5.0, 6.0, 7.0])
    assert check_layer(layer, x, method=method).rows == report.rows  # the same verdict, whatever the grad held


@pytest.mark.parametrize("method", METHODS)
def test_check_gradients_names_a_backward_that_adds_to_its_grads_as_the_culprit(method: Method) -> None:
    x, y = learner_data()
    model = Sequential([ScaleAddingToGrad(5), Dense(5, 1, seed=0), Sigmoid()])
    report = check_gradients(model, BCELoss(), x, y, method=method)
    assert failed_rows(report) == set()  # the model's one backward, from zero grads, is right
    assert report.passed is False and report.culprits == ("layer 0 ScaleAddingToGrad()",)
    (row,) = [r for r in report.parts[0].rows if not r.passed]
    assert row.name == "s" and row.note.startswith("backward adds to p.grad (p.grad += ...) instead of setting it")
    lines = str(report).splitlines()
    assert lines[2] == f"WRONG: the backward of layer 0 ScaleAddingToGrad(): s (relative error " \
                       f"{row.relative_error:.1e}; {row.note})"
    assert lines[3] == ("Every other part passes on its own. The model's gradients pass at this point, but the wrong "
                        "part(s) fail their own check: see the note of each failing row.")


class NormalizedScale(Layer):
    """BatchNorm (in training: each forward moves its running statistics), then `ScaleAddingToGrad`."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.norm, self.scale = BatchNorm(n), ScaleAddingToGrad(n)

    def forward(self, x: Array) -> Array:
        return self.scale.forward(self.norm.forward(x))

    def backward(self, grad: Array) -> Array:
        return self.norm.backward(self.scale.backward(grad))


def test_check_layer_run_twice_still_leaves_grads_buffers_and_caches_as_they_were() -> None:
    rng = np.random.default_rng(8)
    block = NormalizedScale(3)
    x, upstream = rng.standard_normal((6, 3)), rng.standard_normal((6, 3))
    grads = [rng.standard_normal(p.shape) for p in block.parameters()]
    for p, g in zip(block.parameters(), grads):
        p.grad[...] = g
    block.forward(x)
    expected = block.backward(upstream)
    buffers = [b.value.copy() for _, b in block.named_buffers()]
    for p, g in zip(block.parameters(), grads):
        p.grad[...] = g
    report = check_layer(block, x)
    assert failed_rows(report) == {"scale.s"}
    for p, g in zip(block.parameters(), grads, strict=True):
        np.testing.assert_array_equal(p.grad, g)
    for (name, b), value in zip(block.named_buffers(), buffers, strict=True):
        np.testing.assert_array_equal(b.value, value, err_msg=name)
    np.testing.assert_array_equal(block.backward(upstream), expected)  # the caches of a forward at x


# --- (4) the checker leaves every parameter as it was ---------------------------------------------

ParameterState = list[tuple[Parameter, Array, Array, bytes, Array, Array]]


def snapshot(params: list[Parameter], rng: np.random.Generator) -> ParameterState:
    """Give each grad a distinctive value, then record the arrays and their contents."""
    state = []
    for p in params:
        p.grad[...] = rng.standard_normal(p.shape)
        state.append((p, p.value, p.value.copy(), p.value.tobytes(), p.grad, p.grad.copy()))
    return state


def assert_unchanged(state: ParameterState) -> None:
    for p, value, value_copy, value_bytes, grad, grad_copy in state:
        assert p.value is value and p.grad is grad, p.name
        assert p.value.dtype == value_copy.dtype and p.grad.dtype == grad_copy.dtype, p.name
        assert np.array_equal(p.value, value_copy) and p.value.tobytes() == value_bytes, p.name
        assert np.array_equal(p.grad, grad_copy), p.name


class DenseFailingFromCall(LearnerDense):
    """A layer whose forward raises from its `fail_from`-th call on."""

    def __init__(self, n_in: int, n_out: int, seed: int, fail_from: int, error: type[Exception]) -> None:
        super().__init__(n_in, n_out, seed)
        self.calls = 0
        self.fail_from = fail_from
        self.error = error

    def forward(self, x: Array) -> Array:
        self.calls += 1
        if self.calls >= self.fail_from:
            raise self.error(f"{self!r}: forward call {self.calls}")
        return super().forward(x)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("method", METHODS)
def test_check_gradients_leaves_parameters_unchanged(method: Method, dtype: type[np.floating[npt.NBitBase]]) -> None:
    rng = np.random.default_rng(5)
    model = four_three_one(4, seed=5, dtype=dtype)
    state = snapshot(model.parameters(), rng)
    x, y = rng.standard_normal((6, 4)).astype(dtype), labels(rng, 6).astype(dtype)
    report = check_gradients(model, BCELoss(), x, y, method=method)
    assert report.passed, failures(report)
    assert_unchanged(state)
    first = model.layers[0]
    state = snapshot(first.parameters(), rng)
    assert check_layer(first, x, method=method).passed
    assert_unchanged(state)


@pytest.mark.parametrize("error", [FrameworkError, ValueError])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("fail_from", [1, 2, 3, 9, 20])
def test_parameters_unchanged_when_a_forward_raises_mid_check(fail_from: int, method: Method,
                                                              error: type[Exception]) -> None:
    rng = np.random.default_rng(6)
    failing = DenseFailingFromCall(3, 3, seed=7, fail_from=fail_from, error=error)
    model = Sequential([Dense(2, 3, seed=6), ReLU(), failing, ReLU(), Dense(3, 1, seed=8), Sigmoid()])
    state = snapshot(model.parameters(), rng)
    x, y = rng.standard_normal((5, 2)), labels(rng, 5)
    with pytest.raises(error, match="forward call"):
        check_gradients(model, BCELoss(), x, y, method=method)
    assert failing.calls >= fail_from
    assert_unchanged(state)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("fail_from", [2, 5])
def test_check_layer_leaves_parameters_unchanged_when_forward_raises(fail_from: int, method: Method) -> None:
    rng = np.random.default_rng(8)
    layer = DenseFailingFromCall(3, 2, seed=1, fail_from=fail_from, error=ValueError)
    state = snapshot(layer.parameters(), rng)
    with pytest.raises(ValueError, match="forward call"):
        check_layer(layer, rng.standard_normal((4, 3)), method=method)
    assert_unchanged(state)


def test_after_a_check_the_caches_hold_the_real_point() -> None:
    rng = np.random.default_rng(9)
    model, loss = four_three_one(4, seed=9), BCELoss()
    x, y = rng.standard_normal((7, 4)), labels(rng, 7)
    loss.forward(model.forward(x), y)
    model.backward(loss.backward())
    expected = [p.grad.copy() for p in model.parameters()]
    for p in model.parameters():
        p.grad[...] = 0.0
    check_gradients(model, BCELoss(), x, y)
    check_gradients(model, loss, x, y, method="central")
    model.backward(loss.backward())  # the check left the caches of a real forward at x
    for p, g in zip(model.parameters(), expected, strict=True):
        assert p.grad.dtype == np.float64
        np.testing.assert_array_equal(p.grad, g)


# --- (5) sampled and directional modes -------------------------------------------------------------


def model_off_kinks(seed: int) -> Sequential:
    """The 4-3-1 model with random biases, so that no hidden unit sits exactly on ReLU's kink (a
    directional central difference at an exact kink is test_directional_central_check_of_the_4_3_1_model)."""
    model = four_three_one(5, seed=seed)
    rng = np.random.default_rng(seed)
    for name, p in model.named_parameters():
        if name.endswith(".b"):
            p.value[...] = 0.5 * rng.standard_normal(p.shape)
    return model


@pytest.mark.parametrize("nonnegative", [False, True])
@pytest.mark.parametrize(("moved_at_once", "limit", "expected"), [(2**20, 5, (0,)), (30, 5, (0, 2, 4)),
                                                                   (2**20, 3, (0, 3)), (30, 1, (0, 1, 2, 3, 4))])
def test_directions_are_the_same_one_by_one_and_in_stacks(moved_at_once: int, limit: int, expected: tuple[int, ...],
                                                          nonnegative: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(numeric, "MOVED_AT_ONCE", moved_at_once)  # 30: stacks of 2 directions, none kept
    probes = numeric.Probes.choose((3, 4), "directional", 5, np.random.default_rng(0), nonnegative=nonnegative)
    one_by_one = np.stack([probes.direction(i) for i in range(5)])
    starts, stacks = zip(*probes.chunks(limit))
    assert starts == expected
    np.testing.assert_array_equal(np.concatenate(stacks), one_by_one)
    assert np.all(one_by_one >= 0) == nonnegative
    g = np.random.default_rng(1).standard_normal((3, 4))
    np.testing.assert_allclose(probes.project(g), [float(np.vdot(v, g)) for v in one_by_one], rtol=1e-14)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("mode", ["sampled", "directional"])
def test_sampled_and_directional_modes(mode: Literal["sampled", "directional"], method: Method) -> None:
    x, y = learner_data(m=10)
    report = check_gradients(model_off_kinks(2), BCELoss(), x, y, method=method, mode=mode, samples=6)
    assert report.passed, failures(report)
    assert report.mode == mode
    sizes = [p.size for p in model_off_kinks(2).parameters()]  # 20, 4, 12, 3, 3, 1
    assert [r.checked for r in report.rows] == [min(6, size) for size in sizes]  # directional: entries up to 6
    buggy = learner_model(middle=DenseWithoutTranspose(4, 4, seed=2))
    caught = check_gradients(buggy, BCELoss(), x, y, method=method, mode=mode, samples=6)
    assert caught.passed is False
    assert caught.culprits == ("layer 2 DenseWithoutTranspose()",)
    assert {"0.W", "0.b"} <= failed_rows(caught)


# --- (6) a forward that is not complex-step safe -------------------------------------------------


class Square(Layer):
    """x², with a correct backward; the subclasses compute the forward in ways that lose Im."""

    def __init__(self) -> None:
        super().__init__()
        self.x: Array | None = None

    def backward(self, grad: Array) -> Array:
        return 2 * self.cached(self.x) * grad


class SquareWithAbs(Square):
    def forward(self, x: Array) -> Array:
        self.x = x
        return np.abs(x) ** 2


class SquareOfRealPart(Square):
    def forward(self, x: Array) -> Array:
        self.x = x
        real: Array = x.real
        return real * real


class SquareIntoFloatArray(Square):
    def forward(self, x: Array) -> Array:
        self.x = x
        out = np.empty(x.shape)
        out[...] = x * x  # ComplexWarning: the imaginary part is discarded
        return out


@pytest.mark.parametrize("layer_class", [SquareWithAbs, SquareOfRealPart, SquareIntoFloatArray])
def test_layer_not_complex_step_safe_is_reported(layer_class: type[Square]) -> None:
    rng = np.random.default_rng(12)
    x, y = rng.standard_normal((5, 2)), labels(rng, 5)
    report = check_layer(layer_class(), x)
    assert [r.name for r in report.rows] == ["input"]
    assert report.rows[0].note.startswith("not complex-step safe: ")
    assert "central differences' verdict is used for this tensor (threshold 1e-07" in report.rows[0].note
    assert report.passed and report.rows[0].checked == 10  # its backward is right, as central differences say
    assert check_layer(layer_class(), x, method="central").passed
    model = Sequential([Dense(2, 2, seed=0), layer_class(), Dense(2, 1, seed=1), Sigmoid()])
    in_model = check_gradients(model, BCELoss(), x, y)
    assert in_model.passed, str(in_model)
    part = next(p for p in in_model.parts if p.subject == f"layer 1 {layer_class.__name__}()")
    assert "not complex-step safe" in part.rows[0].note
    # Layer 2 reruns from its own output, after the square, so only 0.W and 0.b go through it: the complex step
    # cannot differentiate them (a warning, a real result, or a wrong derivative), and central differences judge them.
    assert all("central differences' verdict is used for this tensor" in r.note for r in in_model.rows[:2])
    assert not any("central differences" in r.note for r in in_model.rows[2:])
    assert check_gradients(model, BCELoss(), x, y, method="central").passed


def test_a_wrong_layer_not_complex_step_safe_fails_on_central_differences_numbers() -> None:
    class WrongSquare(SquareIntoFloatArray):
        def backward(self, grad: Array) -> Array:
            return 3 * self.cached(self.x) * grad  # BUG: d(x²)/dx = 2x

    row = check_layer(WrongSquare(), np.random.default_rng(0).standard_normal((5, 2))).rows[0]
    assert not row.passed and row.checked == 10
    assert "verdict is used for this tensor, and it fails too" in row.note
    assert "backward/numeric = 1.5 for every entry" in row.note


# --- (6b) a forward that keeps the imaginary part but is not complex-analytic ------------------------

NOT_ANALYTIC = ("not complex-step safe: a non-analytic function of the input, such as np.abs, gives the complex "
                "step a wrong derivative; central differences' verdict is used for this tensor")


class TimesAbs(Layer):
    """x·|x|, whose derivative is 2|x| (correct backward). On x + ih, |x + ih| is real, so the complex
    step sees (x + ih)·|x|: half the derivative."""

    def __init__(self) -> None:
        super().__init__()
        self.x: Array | None = None

    def forward(self, x: Array) -> Array:
        self.x = x
        return x * np.abs(x)

    def backward(self, grad: Array) -> Array:
        return 2 * np.abs(self.cached(self.x)) * grad


class TimesAbsThreeTimes(TimesAbs):
    def backward(self, grad: Array) -> Array:
        return 3 * np.abs(self.cached(self.x)) * grad  # BUG: d(x|x|)/dx = 2|x|


class Huber(Loss):
    """The Huber loss with δ = 1, the mean over the batch, written with np.abs and np.where (correct)."""

    def __init__(self) -> None:
        self.cache: Array | None = None

    def forward(self, y_pred: Array, y_true: Labels) -> Scalar:
        r = y_pred - np.asarray(y_true, dtype=np.float64)
        self.cache = r
        a = np.abs(r)
        cost = np.mean(np.where(a <= 1, 0.5 * r * r, a - 0.5))
        return complex(cost) if np.iscomplexobj(cost) else float(cost)

    def backward(self) -> Array:
        r = self.cached(self.cache)
        return np.where(np.abs(r) <= 1, r, np.sign(r)) / r.size


class HuberWithoutClip(Huber):
    def backward(self) -> Array:
        r = self.cached(self.cache)
        return r / r.size  # BUG: where |r| > 1 the derivative is sign(r), not r


HUBER_POINT = (np.array([[0.3], [2.5], [-0.4], [-3.0]]), np.zeros((4, 1)))
"""Residuals 0.3 and -0.4 in the quadratic part, 2.5 and -3 in the linear part."""


def times_abs_models() -> list[Network]:
    """Dense(3 -> 3), TimesAbs, Dense(3 -> 1), Sigmoid: as a Sequential and as a graph Model, both of which
    take the resumed complex step for rows 0.W and 0.b (rerunning only the calls after the first)."""
    x = Input(3)
    graph = Model(x, Sigmoid()(Dense(3, 1, seed=1)(TimesAbs()(Dense(3, 3, seed=0)(x)))))
    return [Sequential([Dense(3, 3, seed=0), TimesAbs(), Dense(3, 1, seed=1), Sigmoid()]), graph]


def test_a_correct_non_analytic_layer_passes_on_central_differences_verdict() -> None:
    x = np.random.default_rng(0).standard_normal((6, 3))
    report = check_layer(TimesAbs(), x)
    assert report.passed, failures(report)
    (row,) = report.rows
    assert row.note.startswith(NOT_ANALYTIC + " (threshold 1e-07; the complex step's relative error was 3.3e-01)")
    assert 1e-13 < row.relative_error < 1e-7  # central differences' error, not the complex step's
    assert row.worst_backward == pytest.approx(row.worst_numeric, rel=1e-6)
    assert "constant factor" not in str(report)


@pytest.mark.parametrize("kind", ["Sequential", "graph Model"])
def test_a_correct_non_analytic_layer_passes_in_a_model(kind: str) -> None:
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((6, 3)), labels(rng, 6)
    model = times_abs_models()[kind == "graph Model"]
    report = check_gradients(model, BCELoss(), x, y)
    assert report.passed, failures(report)
    assert report.culprits == ()
    notes = [row.note for row in report.rows]  # W and b of the first Dense, then of the second
    assert NOT_ANALYTIC in notes[0] and NOT_ANALYTIC in notes[1]  # moved before the |x|
    assert notes[2] == notes[3] == ""  # after it: the complex step is exact
    (part,) = [p for p in report.parts if "TimesAbs" in p.subject]
    assert part.passed and NOT_ANALYTIC in part.rows[0].note
    assert "WRONG" not in str(report) and "constant factor" not in str(report)


def test_a_wrong_non_analytic_layer_fails_on_central_differences_numbers() -> None:
    x = np.random.default_rng(0).standard_normal((6, 3))
    report = check_layer(TimesAbsThreeTimes(), x)
    assert report.passed is False
    (row,) = report.rows
    assert row.note == (f"{NOT_ANALYTIC}, and it fails too (threshold 1e-07; the complex step's relative error was "
                        "5.0e-01); backward/numeric = 1.5 for every entry: a constant factor is wrong")
    assert row.worst_backward == pytest.approx(1.5 * row.worst_numeric, rel=1e-6)  # 3|x| against 2|x|, not |x|
    assert row.relative_error == pytest.approx(0.2, rel=1e-6)  # (3 - 2) / (3 + 2)


def test_a_correct_huber_loss_passes_check_loss_and_check_gradients() -> None:
    y_pred, y_true = HUBER_POINT
    report = check_loss(Huber(), y_pred, y_true)
    assert report.passed, failures(report)
    (row,) = report.rows
    assert NOT_ANALYTIC in row.note and "backward/numeric" not in row.note
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((6, 3)), np.array([[3.0], [-2.0], [0.5], [0.1], [4.0], [-0.3]])
    model = Sequential([Dense(3, 4, seed=0), ReLU(), Dense(4, 1, seed=1)])
    in_model = check_gradients(model, Huber(), x, y)
    assert in_model.passed, failures(in_model)
    assert all(NOT_ANALYTIC in r.note for r in in_model.rows)  # every parameter is moved before the loss
    assert NOT_ANALYTIC in in_model.parts[-1].rows[0].note


def test_a_huber_loss_without_its_clip_fails_and_is_not_called_a_constant_factor() -> None:
    y_pred, y_true = HUBER_POINT
    report = check_loss(HuberWithoutClip(), y_pred, y_true)
    assert report.passed is False
    (row,) = report.rows
    # backward r/n = (0.075, 0.625, -0.1, -0.75) against central differences' (0.075, 0.25, -0.1, -0.25); the
    # complex step's (0.075, 0, -0.1, 0) is not shown
    assert (row.worst, row.worst_backward) == ("(3, 0)", -0.75)
    assert row.worst_numeric == pytest.approx(-0.25, rel=1e-8)
    assert row.note == f"{NOT_ANALYTIC}, and it fails too (threshold 1e-07; the complex step's relative error was 8.8e-01)"
    assert "for every entry" not in str(report)
    model = Sequential([Dense(1, 1, seed=0)])
    in_model = check_gradients(model, HuberWithoutClip(), np.array([[1.0], [-2.0], [0.5]]), np.array([[3.0], [0.0], [1.0]]))
    assert in_model.culprits == ("loss HuberWithoutClip()",)


class ReLUWithLeakyBackward(ReLUMaskFromGradient):
    """A plain ReLU forward, with a leaky ReLU's backward."""

    def backward(self, grad: Array) -> Array:
        x = self.cached(self.x)
        return np.where(x > 0, grad, 0.01 * grad)  # BUG: ReLU's derivative is 0 where x < 0


@pytest.mark.parametrize("method", METHODS)
def test_a_ratio_of_one_where_the_numerical_gradient_is_not_zero_is_not_called_a_constant_factor(
        method: Method) -> None:
    x = np.random.default_rng(0).standard_normal((6, 3))
    report = check_layer(ReLUWithLeakyBackward(), x, method=method)
    (row,) = report.rows
    assert row.passed is False
    negative = int(np.count_nonzero(x < 0))
    assert row.note == (f"backward agrees with the numerical gradient wherever that is not 0, but at {negative} of 18 "
                        "entries the numerical gradient is 0 and backward's is not: a missing mask or branch?")


def test_a_factor_near_one_is_shown_as_its_distance_from_one() -> None:
    x, y = learner_data()
    report = check_gradients(learner_model(middle=DenseWeightGradOffByOnePpb(4, 4, seed=2)), BCELoss(), x, y)
    (row,) = [r for r in report.rows if not r.passed]
    assert row.note == "backward/numeric = 1 + 1e-09 for every entry: a constant factor is wrong"


def test_a_complex_step_failure_below_central_resolution_is_not_overruled() -> None:
    # Central differences cannot see 1e-9, but they agree with the complex step at its worst entries:
    # the complex step is right, and the part of a billion is backward's.
    x = np.random.default_rng(13).standard_normal((6, 30))
    report = check_layer(DenseInputGradOffByOnePpb(30, 2, seed=1), x)
    assert failed_rows(report) == {"input"}
    assert report.rows[0].relative_error == pytest.approx(0.5e-9, rel=1e-3)
    assert "complex-step safe" not in report.rows[0].note


# --- (6c) gradients that are exactly zero ----------------------------------------------------------


def dead_model() -> Sequential:
    """The 4-3-1 model with the biases before both ReLUs at -100: every hidden unit is off."""
    model = four_three_one(3, seed=0)
    for i in (0, 2):
        model.layers[i].b.value[...] = -100.0  # type: ignore[attr-defined]
    return model


DEAD = ("every parameter's gradient is exactly zero: a dead network (all ReLUs off?) or a dead init; the check "
        "proves nothing")
ZERO_NOTE = "exactly 0 at every entry checked, backward's gradient and the numerical one: the check proves nothing about this tensor"


@pytest.mark.parametrize("method", METHODS)
def test_a_dead_network_is_said_to_be_dead(method: Method) -> None:
    x = np.random.default_rng(0).standard_normal((6, 3))
    y = np.array([[0.0], [1.0]] * 3)  # balanced: dJ/d(4.b) = mean(sigmoid(0) - y) = 0 too
    report = check_gradients(dead_model(), BCELoss(), x, y, method=method)
    assert report.passed  # every gradient is right: it is 0
    assert report.all_zero is True
    assert report.warnings == (DEAD,)
    lines = str(report).splitlines()
    assert lines[2] == f"warning: {DEAD}"  # on top, before the table
    assert [r.note for r in report.rows] == [ZERO_NOTE] * 6
    assert not re.search(r"vs -0(?![.\d])", str(report))  # -0 is shown as 0


@pytest.mark.parametrize("method", METHODS)
def test_tensors_whose_gradient_is_exactly_zero_are_named(method: Method) -> None:
    x = np.random.default_rng(0).standard_normal((6, 3))
    y = np.array([[0.0], [1.0], [1.0]] * 2)  # unbalanced: only the output bias has a gradient
    report = check_gradients(dead_model(), BCELoss(), x, y, method=method)
    assert report.passed and report.all_zero is False
    assert report.warnings == (
        "every gradient of 0.W, 0.b, 2.W, 2.b and 4.W is exactly 0 (backward's and the numerical one): the loss does "
        "not depend on them at this point (ReLUs off?), so the check proves nothing about them",)
    assert [r.zero for r in report.rows] == [True] * 5 + [False]
    assert report.rows[-1].note == "" and report.rows[-1].worst_backward == pytest.approx(-1 / 6)  # (0.5 - 2/3) · 1


def test_a_zero_gradient_in_directional_mode_and_of_a_layer_on_its_own() -> None:
    x = -np.abs(np.random.default_rng(0).standard_normal((4, 3))) - 0.1  # every input of the ReLU negative: off
    report = check_layer(ReLU(), x, mode="directional", samples=3)
    assert report.passed and report.all_zero
    assert report.rows[0].note == ZERO_NOTE.replace("entry", "direction")
    assert report.warnings == ("every gradient of input is exactly 0 (backward's and the numerical one): the loss "
                               "does not depend on it at this point (ReLUs off?), so the check proves nothing about it",)
    assert check_layer(ReLU(), -x).warnings == ()


def kink_dead_model() -> Sequential:
    """The 4-3-1 model with only the first bias at -100: the second Dense gets zeros, so its output is
    its zero bias, on the kink of the second ReLU, where central differences step across it."""
    model = four_three_one(3, seed=0)
    model.layers[0].b.value[...] = -100.0  # type: ignore[attr-defined]
    return model


@pytest.mark.parametrize("method", METHODS)
def test_a_dead_network_on_a_kink_is_dead_by_both_methods(method: Method) -> None:
    x = np.abs(np.random.default_rng(0).standard_normal((10, 3)))
    y = np.array([[0.0], [1.0]] * 5)  # balanced: dJ/d(4.b) = mean(sigmoid(0) - y) = 0
    report = check_gradients(kink_dead_model(), BCELoss(), x, y, method=method)
    assert report.passed and report.all_zero is True
    assert report.warnings == (DEAD,)
    assert [r.zero for r in report.rows] == [True] * 6
    row = report.rows[3]
    assert row.name == "2.b" and row.worst_backward == 0.0
    if method == "complex":
        assert row.worst_numeric == 0.0 and row.note == ZERO_NOTE
        return
    # central differences step across the kink: one-sided differences, 0 to within their rounding
    assert 1e-11 < row.max_abs_error == abs(row.worst_numeric) < 1e-9
    atol = 16 * np.finfo(np.float64).eps / 1e-6 * math.log(2)  # the quotients' rounding times the scale, the cost log 2
    assert row.note == (f"backward's gradient is exactly 0 at every entry checked and the numerical one is 0 to within "
                        f"rounding (at most {row.max_abs_error:.1e} from 0, within the tolerance {atol:.1e}): the check "
                        "proves nothing about this tensor; 3 probes crossed a kink: one-sided differences used there")


def test_tensors_zero_to_within_rounding_are_named_with_the_exactly_zero_ones() -> None:
    x = np.abs(np.random.default_rng(0).standard_normal((10, 3)))
    y = np.array([[0.0], [1.0], [1.0]] * 3 + [[1.0]])  # unbalanced: the output bias has a gradient
    report = check_gradients(kink_dead_model(), BCELoss(), x, y, method="central")
    assert report.passed and report.all_zero is False
    assert [r.zero for r in report.rows] == [True] * 5 + [False]
    assert report.rows[3].max_abs_error > 0  # 2.b: one-sided differences across the kink
    assert report.warnings == (
        "every gradient of 0.W, 0.b, 2.W, 2.b and 4.W is exactly 0 (backward's, and the numerical one to within "
        "rounding): the loss does not depend on them at this point (ReLUs off?), so the check proves nothing about "
        "them",)


# --- (6d) the checker leaves the replay flags and the caches as they were -----------------------------


class DenseFailingOnCall(LearnerDense):
    """A layer whose forward raises on its `fail_on`-th call only."""

    def __init__(self, n_in: int, n_out: int, seed: int, fail_on: int) -> None:
        super().__init__(n_in, n_out, seed)
        self.calls = 0
        self.fail_on = fail_on

    def forward(self, x: Array) -> Array:
        self.calls += 1
        if self.calls == self.fail_on:
            raise ValueError(f"{self!r}: forward call {self.calls}")
        return super().forward(x)


def assert_dropout_draws_new_masks(layer: Layer) -> None:
    assert isinstance(layer, Dropout)
    ones = np.ones((40, 3))
    assert not np.array_equal(layer.forward(ones), layer.forward(ones)), "Dropout replays its last mask"


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("fail_from", [2, 3, 12, 40])  # the forward after the trace, probes, the parts (complex)
def test_replay_flags_are_put_back_when_a_forward_raises_mid_check(fail_from: int, method: Method) -> None:
    rng = np.random.default_rng(6)
    failing = DenseFailingFromCall(3, 3, seed=7, fail_from=fail_from, error=ValueError)
    model = Sequential([Dense(2, 3, seed=6), Dropout(0.5, seed=0), failing, ReLU(), Dense(3, 1, seed=8), Sigmoid()])
    x, y = rng.standard_normal((5, 2)), labels(rng, 5)
    with pytest.raises(ValueError, match="forward call"):
        check_gradients(model, BCELoss(), x, y, method=method)
    assert failing.calls >= fail_from
    assert [layer.replay for layer in model.layers] == [False] * 6
    assert_dropout_draws_new_masks(model.layers[1])


@pytest.mark.parametrize("method", METHODS)
def test_the_caches_hold_the_real_point_after_a_forward_raised_mid_check(method: Method) -> None:
    rng = np.random.default_rng(9)
    model = Sequential([Dense(2, 3, seed=6), ReLU(), DenseFailingOnCall(3, 3, seed=7, fail_on=4), ReLU(),
                        Dense(3, 1, seed=8), Sigmoid()])
    loss, x, y = BCELoss(), rng.standard_normal((5, 2)), labels(rng, 5)
    loss.forward(model.forward(x), y)
    model.backward(loss.backward())
    expected = [p.grad.copy() for p in model.parameters()]
    with pytest.raises(ValueError, match="forward call 4"):
        check_gradients(model, loss, x, y, method=method)
    model.backward(loss.backward())  # no forward: the check left the caches of one at x
    for p, g in zip(model.parameters(), expected, strict=True):
        assert p.grad.dtype == np.float64
        np.testing.assert_array_equal(p.grad, g)


class DropoutRaisingInBackward(Dropout):
    def backward(self, grad: Array) -> Array:
        raise ValueError(f"{self!r}: backward")


class DropoutForgettingReturn(Dropout):
    def backward(self, grad: Array) -> Array:
        super().backward(grad)
        return None  # type: ignore[return-value]


def test_check_layer_puts_replay_back_when_backward_raises_or_returns_nothing() -> None:
    x = np.random.default_rng(0).standard_normal((4, 3))
    raising = DropoutRaisingInBackward(0.5, seed=0)
    with pytest.raises(ValueError, match="backward"):
        check_layer(raising, x)
    assert raising.replay is False
    assert_dropout_draws_new_masks(raising)
    forgetting = DropoutForgettingReturn(0.5, seed=0)
    report = check_layer(forgetting, x)
    assert report.rows[0].note == "backward returned NoneType (a missing return?) for an input of shape (4, 3)"
    assert forgetting.replay is False
    assert_dropout_draws_new_masks(forgetting)


def test_check_layer_and_check_loss_leave_the_caches_of_the_real_point() -> None:
    rng = np.random.default_rng(3)
    layer, x, upstream = Dense(3, 2, seed=0), rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    layer.forward(x)
    expected = layer.backward(upstream)
    check_layer(layer, x)
    np.testing.assert_array_equal(layer.backward(upstream), expected)  # the cache of a forward at x
    loss, y_pred, y_true = BCELoss(), rng.uniform(0.1, 0.9, (4, 1)), labels(rng, 4)
    loss.forward(y_pred, y_true)
    expected = loss.backward()
    check_loss(loss, y_pred, y_true)
    np.testing.assert_array_equal(loss.backward(), expected)


# --- (7) m = 1 --------------------------------------------------------------------------------------


def test_batch_of_one_gives_a_warning() -> None:
    x, y = learner_data(m=1)
    report = check_gradients(learner_model(middle=DenseMeanBias(4, 4, seed=2)), BCEWithoutOneOverM(), x, y)
    assert report.passed  # both bugs multiply by m = 1: invisible, hence the warning
    assert len(report.warnings) == 1 and "m = 1" in report.warnings[0]
    assert "warning: the batch has m = 1" in str(report)
    x2, y2 = learner_data(m=2)
    assert check_gradients(learner_model(), BCELoss(), x2, y2).warnings == ()


# --- (8) the report -----------------------------------------------------------------------------


def test_report_text_of_a_passing_check() -> None:
    x, y = learner_data()
    report = check_gradients(four_three_one(5, seed=3), BCELoss(), x, y)
    text = str(report)
    assert text.splitlines()[0] == "Gradient check of Sequential (6 layers) by complex step, full mode: PASSED"
    for name, shape, size in [("0.W", "(5, 4)", 20), ("0.b", "(4,)", 4), ("2.W", "(4, 3)", 12), ("2.b", "(3,)", 3),
                              ("4.W", "(3, 1)", 3), ("4.b", "(1,)", 1)]:
        assert re.search(rf"^{re.escape(name)}\s+{re.escape(shape)}\s+{size}\s.*\sok$", text, flags=re.M), name
    assert "layer 0 Dense(5 -> 4) input" in text and "loss BCELoss() y_pred" in text
    assert "FAILED" not in text and "WRONG" not in text


def test_report_text_of_a_failing_check_names_layer_5() -> None:
    x, y = learner_data()
    report = check_gradients(learner_model(last=SigmoidDerivativeOnZ()), BCELoss(), x, y)
    text = str(report)
    assert "full mode: FAILED" in text.splitlines()[0]
    assert "WRONG: the backward of layer 5 SigmoidDerivativeOnZ(): input (relative error" in text
    assert "Every other part passes on its own" in text
    assert sum(line.rstrip().endswith("FAIL") for line in text.splitlines()) == 7  # 6 parameters + the layer's input


def test_report_rows_parts_and_thresholds() -> None:
    x, y = learner_data()
    model = four_three_one(5, seed=3)
    report = check_gradients(model, BCELoss(), x, y)
    assert (report.subject, report.method, report.mode, report.threshold) == ("Sequential (6 layers)", "complex",
                                                                               "full", 1e-11)
    assert [p.subject for p in report.parts] == ["layer 0 Dense(5 -> 4)", "layer 1 ReLU()", "layer 2 Dense(4 -> 3)",
                                                 "layer 3 ReLU()", "layer 4 Dense(3 -> 1)", "layer 5 Sigmoid()",
                                                 "loss BCELoss()"]
    assert 0 < report.worst_relative_error < 1e-13
    assert check_gradients(model, BCELoss(), x, y, method="central").threshold == 1e-7
    assert check_gradients(model, BCELoss(), x, y, threshold=1e-9).threshold == 1e-9
    assert check_gradients(model, BCELoss(), x, y, localize=False).parts == ()


def test_float32_model_passes_with_its_logic_at_float64_and_its_rounding_at_float32() -> None:
    rng = np.random.default_rng(4)
    model = four_three_one(5, seed=4, dtype=np.float32)
    x, y = rng.standard_normal((10, 5)).astype(np.float32), labels(rng, 10).astype(np.float32)
    for method in METHODS:
        report = check_gradients(model, BCELoss(), x, y, method=method)
        assert report.threshold == (1e-11 if method == "complex" else 1e-7)  # the float64 copy's
        assert report.passed, failures(report)
        assert report.rounding is not None and report.rounding.threshold == 1e-4 and report.rounding.passed
        assert 1e-10 < max(r.relative_error for r in report.rounding.rows) < 1e-6  # float32 rounding
        assert all(p.value.dtype == p.grad.dtype == np.float32 for p in model.parameters())  # left as it was
    old = check_gradients(model, BCELoss(), x, y, float64_logic=False)
    assert old.threshold == 1e-4 and old.rounding is None and 1e-12 < old.worst_relative_error < 1e-5


@pytest.mark.parametrize("method", METHODS)
def test_a_float32_bias_before_batchnorm_whose_gradient_is_0_passes_its_rounding(method: Method) -> None:
    """Its float64 gradient is 0 to 1e-17, its float32 one a few float32 epsilons of the other
    gradients from 0: rounding, judged on the model's scale, not the tensor's own."""
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((32, 5)).astype(np.float32), labels(rng, 32).astype(np.float32)
    model = Sequential([Dense(5, 4, seed=0, dtype=np.float32), BatchNorm(4, dtype=np.float32), ReLU(),
                        Dense(4, 1, seed=1, dtype=np.float32), Sigmoid()])
    report = check_gradients(model, BCELoss(), x, y, method=method)
    assert report.passed and report.rounding is not None and report.rounding.passed, report
    assert report.rounding.method == method


class OffByAFactor(LearnerDense):
    """A Dense layer whose dL/dW is (1 + 1e-9) times too large: float32 cannot even hold the factor."""

    def backward(self, grad: Array) -> Array:
        dx = super().backward(grad)
        self.W.grad *= 1 + 1e-9
        return dx


def test_a_factor_of_1_plus_1e9_in_a_float32_models_backward_is_caught() -> None:
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((10, 3)).astype(np.float32), labels(rng, 10).astype(np.float32)
    layer = OffByAFactor(3, 1, seed=0)
    for p in layer.parameters():
        p.value = p.value.astype(np.float32)
    model = Sequential([layer, Sigmoid()])
    report = check_gradients(model, BCELoss(), x, y)
    assert not report.passed and [r.name for r in report.rows if not r.passed] == ["0.W"]
    assert 1e-10 < report.rows[0].relative_error < 1e-9
    assert report.rounding is not None and report.rounding.passed  # float32 alone: within its rounding
    assert check_gradients(model, BCELoss(), x, y, float64_logic=False).passed  # which hides the factor



class ScaleByAFactor(Layer):
    """x ⊙ s, its dL/ds `factor` times the right one (float32: 1 + 1e-9 rounds to 1 in its dtype)."""

    def __init__(self, n: int, factor: float) -> None:
        super().__init__()
        self.s = Parameter(np.linspace(0.5, 1.5, n).astype(np.float32))
        self.factor = factor

    def forward(self, x: Array) -> Array:
        self._x = x
        return x * self.s.value

    def backward(self, grad: Array) -> Array:
        self.s.grad[...] = (grad * self._x).sum(axis=0) * self.factor
        return grad * self.s.value


@pytest.mark.parametrize("factor", [1 + 1e-6, 1 + 1e-9])
def test_check_layer_checks_a_float32_layers_logic_at_float64_and_its_rounding_at_float32(factor: float) -> None:
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    right, wrong = check_layer(ScaleByAFactor(4, 1.0), x), check_layer(ScaleByAFactor(4, factor), x)
    assert right.passed and right.threshold == 1e-11, failures(right)
    assert right.subject == "ScaleByAFactor() (float32; its logic checked on a float64 copy)"
    assert right.rounding is not None and right.rounding.passed and right.rounding.threshold == 1e-4
    assert [r.name for r in right.rounding.rows] == ["input", "s"]
    assert all(1e-10 < r.relative_error < 1e-6 for r in right.rounding.rows)  # float32's own rounding
    assert not wrong.passed and [r.name for r in wrong.rows if not r.passed] == ["s"]
    s_row = next(r for r in wrong.rows if r.name == "s")
    assert s_row.relative_error == pytest.approx((factor - 1) / 2, rel=1e-3)
    assert wrong.rounding is not None and wrong.rounding.passed  # float32 alone: within its rounding
    layer = ScaleByAFactor(4, factor)
    alone = check_layer(layer, x, float64_logic=False)
    assert alone.threshold == 1e-4 and alone.rounding is None and alone.passed  # which hides the factor
    assert layer.s.value.dtype == layer.s.grad.dtype == np.float32  # left as it was


def test_check_layer_of_a_float32_embedding_gives_no_rounding_row_to_its_indices() -> None:
    layer = Embedding(6, 3, seed=0, dtype=np.float32)
    report = check_layer(layer, np.array([[0, 2], [5, 1]]))
    assert report.passed and report.rounding is not None and report.rounding.passed, report
    assert [r.name for r in report.rounding.rows] == ["W"]


# --- known false failures: correct models the checker calls wrong --------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_a_gradient_that_is_zero_everywhere_passes(method: Method) -> None:
    # Zero biases and zero inputs: every hidden unit is on its kink (dead), the output is 0.5 for every
    # sample, and balanced labels make dJ/d(last bias) = mean(a - y) = 0: the whole gradient is zero.
    model = mlp_classifier(2, (2,)) if method == "complex" else four_three_one(3)
    m = 6 if method == "complex" else 4
    x = np.zeros((m, model.layers[0].in_features))  # type: ignore[attr-defined]
    y = np.array([[0.0]] * (m // 2) + [[1.0]] * (m // 2)) if method == "complex" else np.array([[0.0], [1.0]] * 2)
    loss = BCELoss()
    loss.forward(model.forward(x), y)
    model.backward(loss.backward())
    assert max(float(np.abs(p.grad).max()) for p in model.parameters()) < 1e-16
    report = check_gradients(model, BCELoss(), x, y, method=method)
    assert report.passed, failures(report)


def test_central_check_of_bce_on_a_confident_prediction() -> None:
    # a = 0.0005 for a sample labelled 1: dJ/da = -1 / (a n) = -1000, as the complex step confirms.
    # A central step of 1e-6 is not small beside a = 5e-4: its truncation error, (1e-6 / a)² / 3 =
    # 1.3e-6 relative, exceeds the 1e-7 threshold, and the report blames BCELoss's correct backward.
    y_pred, y_true = np.array([[5e-4], [0.7]]), np.array([[1.0], [0.0]])
    exact = check_loss(BCELoss(), y_pred, y_true, method="complex")
    assert exact.passed and exact.rows[0].worst_numeric == pytest.approx(-1000.0, rel=1e-12)
    central = check_loss(BCELoss(), y_pred, y_true, method="central")
    assert central.passed, failures(central)


@pytest.mark.parametrize(("a", "label"), [(1 - 7e-8, 0.0), (1.7e-14, 1.0)])
def test_central_differences_shrink_their_step_where_the_cost_bends_within_it(
    a: float, label: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 1 - a = 7e-8 for a sample labelled 0 (a = 1.7e-14 for one labelled 1): dJ/da = ±1 / (u n), u the
    # distance to log's singularity. A step of 1e-6 spans many times u (and crosses the clip at eps):
    # the estimate is unresolved (55% off, a factor 1e6 off; a random sweep found both inside models) until
    # the step shrinks below u.
    y_pred, y_true = np.array([[0.5], [a]]), np.array([[1.0], [label]])
    u = 1 - a if label == 0 else a
    central = check_loss(BCELoss(), y_pred, y_true, method="central")
    assert central.passed, failures(central)
    assert central.rows[0].relative_error < 1e-6
    assert central.rows[0].worst_numeric == pytest.approx((1 if label == 0 else -1) / (u * 2), rel=1e-6)
    monkeypatch.setattr(numeric, "SHRINKS", 0)  # the step as it was: the right backward fails
    assert not check_loss(BCELoss(), y_pred, y_true, method="central").passed


def test_central_check_of_a_model_with_a_prediction_7e_8_from_1() -> None:
    """Its loss's steps shrink (the loss checked alone, above), the model's do not: its cost, computed
    to a relative 3.2e-9 there (`Loss.rounding`), rounds more in smaller steps, not less."""
    seed = 2601357639  # a random sweep's: the loss blamed, then the model's rows failed 0.62 off
    rng = np.random.default_rng(seed)
    model = mlp_classifier(9, [5, 4], seed=seed)
    x = rng.standard_normal((3, 9))
    x[0] = 0.0
    y = labels(rng, 3)
    assert 1e-8 < 1 - float(model.forward(x).max()) < 1e-7
    report = check_gradients(model, BCELoss(), x, y, method="central", seed=seed)
    assert report.passed, failures(report)


@pytest.mark.parametrize("method", METHODS)
def test_check_loss_at_predictions_an_epsilon_from_1_says_it_proves_little(method: Method) -> None:
    """1 - a = 4.4e-16 keeps one bit of a's digits: BCE's cost there is computed to a relative 0.5, and no
    numerical derivative means much (a review found both methods failing the right backward)."""
    y_pred, y_true = np.array([[1 - 4.4e-16], [0.5], [1e-3]]), np.array([[0.0], [1.0], [1.0]])
    report = check_loss(BCELoss(), y_pred, y_true, method=method)
    assert report.passed, failures(report)
    (warning,) = report.warnings
    assert warning.startswith(f"threshold {report.threshold:.1e}, not ") and warning.endswith("the check proves little here")


def test_central_check_of_a_model_with_a_confident_prediction() -> None:
    dense = Dense(1, 1)
    dense.W.value[...] = 12.0  # sigmoid(12) = 1 - 6.1e-6 for the first sample, labelled 0
    model = Sequential([dense, Sigmoid()])
    x, y = np.array([[1.0], [0.5], [-0.5]]), np.array([[0.0], [1.0], [0.0]])
    assert check_gradients(model, BCELoss(), x, y, method="complex").passed
    report = check_gradients(model, BCELoss(), x, y, method="central")
    assert report.passed, failures(report)
    assert report.culprits == ()


def test_directional_central_check_of_relu_on_its_kink() -> None:
    # Two inputs exactly at 0: backward takes ReLU's derivative there as 0, and a random direction
    # that moves one up and the other down crosses a kink on both sides of the point.
    x = np.array([[0.0, 0.0, 1.5], [-1.0, 0.5, 2.0]])
    assert check_layer(ReLU(), x, method="central").passed
    assert check_layer(ReLU(), x, method="complex", mode="directional").passed
    report = check_layer(ReLU(), x, method="central", mode="directional")
    assert report.passed, failures(report)


def test_directional_central_check_of_the_4_3_1_model() -> None:
    # Sample 0 has all four units of the first hidden layer dead, so with zero biases its row of the
    # second Dense's output is exactly 0: the second ReLU sits on its kink there.
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((6, 3)), labels(rng, 6)
    model = four_three_one(3)
    np.testing.assert_array_equal(model.layers[1].forward(model.layers[0].forward(x))[0], np.zeros(4))
    assert check_gradients(model, BCELoss(), x, y, method="complex", mode="directional").passed
    assert check_gradients(model, BCELoss(), x, y, method="central").passed
    report = check_gradients(model, BCELoss(), x, y, method="central", mode="directional")
    assert report.passed, failures(report)
    assert report.culprits == ()


# --- the layer hooks the checker probes through: each equals a forward at the moved point ---------

class IndependentLearnerDense(LearnerDense):
    independent_samples = True  # Layer's hooks then run the moved samples alone, all in one forward


HOOK_LAYERS: dict[str, Callable[[], Layer]] = {
    "Dense": lambda: Dense(5, 3, seed=0),  # overrides every hook: no forward
    "default": lambda: LearnerDense(5, 3, seed=0),  # Layer's hooks: a forward at each moved point
    "independent": lambda: IndependentLearnerDense(5, 3, seed=0),
}
DELTAS = [0.25, 1e-20j, 0.5 + 2j]


def assert_same_output(a: Array, b: Array, delta: complex) -> None:
    """Equal up to rounding, the imaginary parts judged on their own scale (δ = 1e-20j)."""
    np.testing.assert_allclose(a.real, b.real, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(a.imag, b.imag, rtol=1e-13, atol=1e-13 * abs(complex(delta).imag))


def complex_layer(kind: str) -> Layer:
    """The layer with complex parameters, as during a complex-step check."""
    layer = HOOK_LAYERS[kind]()
    for p in layer.parameters():
        p.value = p.value.astype(np.complex128)
    return layer


@pytest.mark.parametrize("delta", DELTAS)
@pytest.mark.parametrize("kind", HOOK_LAYERS)
def test_perturbed_inputs_are_the_forward_at_each_moved_input(kind: str, delta: complex) -> None:
    layer, x = complex_layer(kind), np.random.default_rng(1).standard_normal((4, 5))
    out = layer.forward(x)
    indices = np.array([0, 7, 8, 19])  # 7 and 8: two entries of one sample
    stack = layer.perturbed_inputs(x, out, indices, delta)
    assert stack.shape == (4, *out.shape)
    for index, got in zip(indices.tolist(), stack, strict=True):
        moved = x.astype(np.complex128)
        moved.flat[index] += delta
        assert_same_output(got, layer.forward(moved), delta)


@pytest.mark.parametrize("delta", DELTAS)
@pytest.mark.parametrize("kind", HOOK_LAYERS)
def test_moved_input_is_the_forward_along_each_direction(kind: str, delta: complex) -> None:
    rng = np.random.default_rng(2)
    layer, x, directions = complex_layer(kind), rng.standard_normal((4, 5)), rng.standard_normal((3, 4, 5))
    moved = layer.moved_input(x, layer.forward(x), directions, delta)
    assert moved.shape == (3, 4, 3)
    for v, out in zip(directions, moved, strict=True):
        assert_same_output(out, layer.forward(x + delta * v), delta)


@pytest.mark.parametrize("delta", DELTAS)
@pytest.mark.parametrize("kind", HOOK_LAYERS)
def test_perturbed_and_moved_output_are_the_forward_at_the_moved_parameter(kind: str, delta: complex) -> None:
    rng = np.random.default_rng(3)
    layer, x = complex_layer(kind), rng.standard_normal((4, 5))
    out = layer.forward(x)
    for p in layer.parameters():
        base, saved = p.value, p.value.copy()
        directions = rng.standard_normal((3, *p.shape))
        expected = []
        for v in directions:
            p.value = base + delta * v
            expected.append(layer.forward(x))
        p.value = base
        moved = joined(layer.moved_output(x, out, p, directions, delta))  # by parts for an imaginary delta
        for a, b in zip(moved, expected, strict=True):
            assert_same_output(a, b, delta)
        indices = np.array([0, 1, p.value.size - 1])
        stack = joined(layer.perturbed_outputs(x, out, p, indices, delta))
        for index, got in zip(indices.tolist(), stack, strict=True):
            p.value = base.copy()
            p.value.flat[index] += delta
            expected_entry = layer.forward(x)
            p.value = base
            assert_same_output(got, expected_entry, delta)
        assert p.value is base and p.value.tobytes() == saved.tobytes(), "a hook left the parameter moved"


class DenseInputGradOffByOnePpb(Dense):
    def backward(self, grad: Array) -> Array:
        return super().backward(grad) * (1 + 1e-9)  # BUG in dL/dx only, far below central differences


@pytest.mark.parametrize("mode", ["full", "directional"])
def test_check_layer_through_the_dense_hooks_catches_one_part_per_billion_in_dx(
        mode: Literal["full", "directional"]) -> None:
    rng = np.random.default_rng(13)
    x = rng.standard_normal((6, 300))
    assert check_layer(Dense(300, 2, seed=1), x, mode=mode, max_input_entries=500).passed
    report = check_layer(DenseInputGradOffByOnePpb(300, 2, seed=1), x, mode=mode, max_input_entries=500)
    assert failed_rows(report) == {"input"}
    assert report.rows[0].checked == (500 if mode == "full" else 16)


# --- what the checker refuses, rather than checking the wrong thing --------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"method": "complx"}, "method must be one of 'complex', 'central', got 'complx'"),
        ({"mode": "sample"}, "mode must be one of 'full', 'sampled', 'directional', got 'sample'"),
        ({"mode": "sampled", "samples": 0}, "samples must be a whole number of at least 1, got 0"),
        ({"mode": "directional", "samples": -3}, "samples must be a whole number of at least 1, got -3"),
        ({"mode": "sampled", "samples": 2.5}, "samples must be a whole number of at least 1, got 2.5"),
        ({"mode": "directional", "samples": True}, "samples must be a whole number of at least 1, got True"),
    ],
)
def test_unknown_options_are_refused_not_run_as_another_check(options: dict[str, object], message: str) -> None:
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((5, 3)), labels(rng, 5)
    model = Sequential([Dense(3, 1, seed=0), Sigmoid()])
    with pytest.raises(FrameworkError, match=re.escape(f"check_gradients: {message}")):
        check_gradients(model, BCELoss(), x, y, **options)  # type: ignore[arg-type]
    with pytest.raises(FrameworkError, match=re.escape(f"check_layer(Dense(3 -> 1)): {message}")):
        check_layer(Dense(3, 1, seed=0), x, **options)  # type: ignore[arg-type]


def test_samples_is_ignored_in_full_mode() -> None:
    x = np.random.default_rng(0).standard_normal((4, 3))
    assert check_layer(Dense(3, 2, seed=0), x, mode="full", samples=0).passed


def test_check_layer_refuses_a_list_input_before_building_the_layer() -> None:
    with pytest.raises(FrameworkError, match=r"check_layer\(Dense\(\? -> 2\)\): x must be a real float array, got list"):
        check_layer(Dense(2), [[1.0, 2.0, 3.0]])  # type: ignore[list-item]


class ForgetsReturn(Layer):
    def forward(self, x: Array) -> Array:
        return 2 * x

    def backward(self, grad: Array) -> Array:
        2 * grad  # the learner's bug: no return
        return None  # type: ignore[return-value]


def test_a_backward_that_returns_nothing_fails_its_input_row() -> None:
    report = check_layer(ForgetsReturn(), np.ones((2, 3)))
    assert not report.passed
    assert report.rows[0].note == "backward returned NoneType (a missing return?) for an input of shape (2, 3)"


class ScaleList(Layer):
    """y = x * s0 * s1, its two parameters kept in a list; backward drops a factor of s1 in ds0 when `bug`."""

    def __init__(self, bug: bool) -> None:
        super().__init__()
        self.scales = [Parameter(np.full(3, 1.5), name="s0"), Parameter(np.full(3, 2.0), name="s1")]
        self.bug = bug
        self._x: Array | None = None

    def forward(self, x: Array) -> Array:
        self._x = x
        s0, s1 = (p.value for p in self.scales)
        return x * s0 * s1

    def backward(self, grad: Array) -> Array:
        x = self.cached(self._x)
        s0, s1 = self.scales
        s0.grad[...] = (grad * x).sum(axis=0) * (1 if self.bug else s1.value.real)
        s1.grad[...] = (grad * x).sum(axis=0) * s0.value.real
        return grad * s0.value * s1.value


@pytest.mark.parametrize("method", METHODS)
def test_parameters_kept_in_a_list_are_found_and_checked(method: Method) -> None:
    x = np.random.default_rng(0).standard_normal((4, 3))
    assert [name for name, _ in ScaleList(bug=False).named_parameters()] == ["scales.0", "scales.1"]
    assert check_layer(ScaleList(bug=False), x, method=method).passed
    report = check_layer(ScaleList(bug=True), x, method=method)
    assert [row.passed for row in report.rows] == [True, False, True]  # input, scales.0, scales.1


class MadeInForward(Layer):
    def __init__(self) -> None:
        super().__init__()
        self._x: Array | None = None

    def forward(self, x: Array) -> Array:
        if not hasattr(self, "s"):
            self.s = Parameter(np.ones(x.shape[1]), name="s")
        self._x = x
        return x * self.s.value

    def backward(self, grad: Array) -> Array:
        self.s.grad[...] = 0.0  # wrong, and would pass unnoticed if s went unchecked
        return grad * self.s.value


def test_parameters_made_in_forward_are_refused_by_name() -> None:
    message = r"forward\(\) changed the parameters, from \[\] to \['s'\]; create parameters in __init__ or in build"
    with pytest.raises(FrameworkError, match=r"check_layer\(MadeInForward\(\)\): " + message):
        check_layer(MadeInForward(), np.ones((2, 3)))
    # In a model, the probe that infers the layer's output shape, when the model is built, makes s before the
    # first check or fit (as Keras builds a layer on its first call), so s is checked, and its wrong gradient found.
    rng = np.random.default_rng(0)
    report = check_gradients(Sequential([MadeInForward(), Dense(3, 1, seed=0), Sigmoid()]), BCELoss(),
                             rng.standard_normal((4, 3)), labels(rng, 4))
    assert [row.name for row in report.rows if not row.passed] == ["0.s"]


def test_a_model_of_lazy_layers_has_every_parameter_checked() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((6, 5)), labels(rng, 6)
    report = check_gradients(Sequential([Dense(4), ReLU(), Dense(1), Sigmoid()]), BCELoss(), x, y)
    assert report.passed
    assert [row.name for row in report.rows] == ["0.W", "0.b", "2.W", "2.b"]


def test_zeros_at_the_sampled_entries_say_only_that() -> None:
    x = -np.abs(np.random.default_rng(0).standard_normal((40, 3))) - 0.1  # the ReLU off everywhere
    assert check_layer(ReLU(), x, mode="sampled", samples=5).warnings == (
        "the entries checked of input (5 of 120) are all exactly 0 (backward's and the numerical one), so the check "
        "proves nothing about those tensors: the other entries may not be 0; check more (mode='full', or more "
        "samples)",)
