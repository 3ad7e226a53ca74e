"""Sample weights in every built-in loss, and BCEWithLogitsLoss's pos_weight: the weighted cost is
Keras' "sum_over_batch_size", Σ_i w_i l_i / m, checked against scikit-learn's weighted log loss and
squared error (which divide by Σ w_i instead: they differ by the mean weight), against PyTorch's
losses and autograd, and by hand; the weighted backward passes the gradient checker (stacked probes
included), and a backward that forgets the weights fails it; bad weights are refused by name."""

import re

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framework import (
    ConfigError, CrossEntropyLoss, Dense, DTypeError, NonFiniteError, ReLU, Sequential, ShapeError, Sigmoid,
    ValueRangeError, check_gradients, check_loss,
)
from framework.core.arrays import Array, Labels, SampleWeights, Scalar
from framework.losses import BCELoss, BCEWithLogitsLoss, Loss, MSELoss, weighted_costs, weighted_value
from tests.integration.test_every_layer import LOSSES, loss_example

Floats = npt.NDArray[np.float64]


def weights(m: int, seed: int = 1) -> Floats:
    return np.random.default_rng(seed).uniform(0.0, 3.0, m)


def test_weighted_bce_is_sklearns_weighted_log_loss_times_the_mean_weight() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    a, y, w = rng.uniform(0.05, 0.95, (40, 1)), rng.integers(0, 2, (40, 1)).astype(float), weights(40)
    expected = metrics.log_loss(y.ravel(), a.ravel(), sample_weight=w) * w.mean()  # Σ w l / Σ w, times Σ w / m
    assert BCELoss().forward_weighted(a, y, w) == pytest.approx(expected, rel=1e-13)


def test_weighted_mse_is_sklearns_weighted_mean_squared_error_times_the_mean_weight() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    y_pred, y, w = rng.normal(0, 2, (30, 3)), rng.normal(0, 2, (30, 3)), weights(30)
    expected = metrics.mean_squared_error(y, y_pred, sample_weight=w) * w.mean()
    assert MSELoss().forward_weighted(y_pred, y, w) == pytest.approx(expected, rel=1e-13)


def test_cross_entropy_with_class_weights_is_torchs_weight_summed_over_the_batch_size() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    z, y, class_weight = rng.normal(0, 2, (12, 4)), rng.integers(0, 4, 12), np.array([1.0, 5.0, 0.5, 2.0])
    loss = CrossEntropyLoss()
    cost = loss.forward_weighted(z, y, class_weight[y])
    grad = loss.backward()
    z_t = torch.tensor(z, requires_grad=True)
    # torch's "mean" divides by Σ w: its "sum" over the batch size is Keras' reduction
    expected = torch.nn.functional.cross_entropy(z_t, torch.tensor(y), weight=torch.tensor(class_weight),
                                                 reduction="sum") / len(y)
    expected.backward()
    assert cost == pytest.approx(expected.item(), rel=1e-13)
    np.testing.assert_allclose(grad, z_t.grad.numpy(), rtol=1e-12, atol=1e-15)
    one_hot = np.eye(4)[y]  # rows weigh the same
    assert CrossEntropyLoss().forward_weighted(z, one_hot, class_weight[y]) == pytest.approx(cost, rel=1e-13)


@pytest.mark.parametrize("pos_weight", [3.0, [0.5, 4.0]], ids=["one for every column", "one a column"])
@pytest.mark.parametrize("sample_weighted", [False, True], ids=["", "sample weights"])
def test_bce_with_logits_pos_weight_is_torchs(pos_weight: float | list[float], sample_weighted: bool) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    z, y = rng.normal(0, 3, (10, 2)), rng.integers(0, 2, (10, 2)).astype(float)
    w = weights(10) if sample_weighted else None
    loss = BCEWithLogitsLoss(pos_weight=pos_weight)
    cost = loss.forward(z, y) if w is None else loss.forward_weighted(z, y, w)
    grad = loss.backward()
    z_t = torch.tensor(z, requires_grad=True)
    terms = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pos_weight, dtype=torch.float64),
                                       reduction="none")(z_t, torch.tensor(y))
    expected = (terms * (1.0 if w is None else torch.tensor(w)[:, None])).mean()
    expected.backward()
    assert cost == pytest.approx(expected.item(), rel=1e-13)
    np.testing.assert_allclose(grad, z_t.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_weighted_cross_entropy_by_hand() -> None:
    z, y, w = np.array([[0.0, 0.0], [1.0, 0.0]]), np.array([0, 1]), np.array([3.0, 0.5])
    loss = CrossEntropyLoss()
    expected = (3 * np.log(2) + 0.5 * (np.log(1 + np.e) - 0)) / 2  # -log softmax: log 2, and log(e + 1) - 0
    assert loss.forward_weighted(z, y, w) == pytest.approx(expected, rel=1e-15)
    p = np.exp(1) / (1 + np.exp(1))
    np.testing.assert_allclose(loss.backward(), [[3 * (0.5 - 1) / 2, 3 * 0.5 / 2],  # w_i (softmax - onehot) / m
                                                 [0.5 * p / 2, 0.5 * (1 - p - 1) / 2]])


@pytest.mark.parametrize("cls", LOSSES, ids=lambda c: c.__name__)
def test_weights_of_one_are_the_unweighted_loss_and_a_zero_weight_drops_a_sample(cls: type[Loss]) -> None:
    rng = np.random.default_rng(0)
    y_pred, y_true = loss_example(cls(), rng)
    loss = cls()
    unweighted, grad = loss.forward(y_pred, y_true), loss.backward()
    assert loss.forward_weighted(y_pred, y_true, np.ones(6)) == pytest.approx(unweighted, rel=1e-15)
    np.testing.assert_allclose(loss.backward(), grad, rtol=1e-15)
    dropped = np.r_[0.0, np.ones(5)]
    rest = loss.forward(y_pred[1:], y_true[1:]) * 5 / 6  # the mean over the other 5, over the batch of 6
    assert loss.forward_weighted(y_pred, y_true, dropped) == pytest.approx(rest, rel=1e-13)
    assert not loss.backward()[0].any()


@pytest.mark.parametrize("cls", LOSSES, ids=lambda c: c.__name__)
@settings(max_examples=10)
@given(seed=st.integers(0, 2**32 - 1))
def test_the_weighted_cost_is_the_sum_of_each_samples_cost_times_its_weight_over_the_batch_size(
    cls: type[Loss], seed: int
) -> None:
    rng = np.random.default_rng(seed)
    loss = cls()
    y_pred, y_true = loss_example(loss, rng)
    w = rng.uniform(0, 4, 6) * rng.integers(0, 2, 6)  # some weights 0
    each = [loss.forward(y_pred[i:i + 1], y_true[i:i + 1]) for i in range(6)]  # a sample's cost alone
    assert loss.forward_weighted(y_pred, y_true, w) == pytest.approx(float(np.dot(w, each)) / 6, rel=1e-12, abs=1e-15)


def pos_weighted() -> BCEWithLogitsLoss:
    return BCEWithLogitsLoss(pos_weight=[2.0, 0.25])


WEIGHTED = [*LOSSES, pos_weighted]


@pytest.mark.parametrize("make", WEIGHTED, ids=lambda c: getattr(c, "__name__", "pos_weighted"))
def test_weighted_costs_are_the_weighted_value_probe_by_probe(make: type[Loss]) -> None:
    rng = np.random.default_rng(0)
    loss = make()
    y_pred, y_true = loss_example(loss, rng)
    y, w = loss.check(y_pred, y_true), loss.check_weights(weights(6), y_pred)
    stack = y_pred + 1e-3j * rng.standard_normal((4, *y_pred.shape))
    np.testing.assert_allclose(weighted_costs(loss, stack, y, w), [weighted_value(loss, p, y, w) for p in stack],
                               rtol=1e-14)
    assert weighted_costs(loss, y_pred, y, w).shape == ()


@pytest.mark.parametrize("method", ["complex", "central"])
@pytest.mark.parametrize("make", WEIGHTED, ids=lambda c: getattr(c, "__name__", "pos_weighted"))
def test_every_weighted_loss_passes_the_checker(make: type[Loss], method: str) -> None:
    loss = make()
    y_pred, y_true = loss_example(loss, np.random.default_rng(0))
    report = check_loss(loss, y_pred, y_true, method=method, sample_weight=weights(6))  # type: ignore[arg-type]
    assert report.passed, str(report)


class ForgetsTheWeights(MSELoss):
    """A weighted MSE whose backward returns the unweighted gradient."""

    def backward(self) -> Array:
        diff, _ = self.cached(self._cache)
        self._cache = None
        return 2 * diff / diff.size


def test_the_checker_fails_a_backward_that_forgets_the_weights() -> None:
    rng = np.random.default_rng(0)
    y_pred, y = rng.normal(0, 1, (6, 2)), rng.normal(0, 1, (6, 2))
    assert check_loss(ForgetsTheWeights(), y_pred, y).passed  # unweighted, it is right
    assert not check_loss(ForgetsTheWeights(), y_pred, y, sample_weight=weights(6)).passed


@pytest.mark.parametrize("probes_at_once", [None, 1])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_check_gradients_of_a_weighted_loss(probes_at_once: int | None, dtype: type) -> None:
    rng = np.random.default_rng(0)
    x: Array = rng.standard_normal((8, 3)).astype(dtype)
    y = rng.integers(0, 3, 8)
    model = Sequential([Dense(3, 4, seed=0, dtype=dtype), ReLU(), Dense(4, 3, seed=1, dtype=dtype)])
    report = check_gradients(model, CrossEntropyLoss(), x, y, sample_weight=weights(8), probes_at_once=probes_at_once)
    assert report.passed, str(report)
    assert any(part.subject.startswith("loss") for part in report.parts)
    expected = "one at a time" if probes_at_once == 1 else "stacked"  # the weighted costs take a stack of probes
    assert all(row.path.startswith(expected) for row in report.rows), [row.path for row in report.rows]


def test_check_gradients_tells_the_weighted_gradient_from_the_unweighted_one() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((8, 3)), rng.integers(0, 2, (8, 1)).astype(float)
    model = Sequential([Dense(3, 1, seed=0), Sigmoid()])
    assert check_gradients(model, ForgetsTheWeights(), x, y, localize=False).passed
    assert not check_gradients(model, ForgetsTheWeights(), x, y, sample_weight=weights(8), localize=False).passed


@pytest.mark.parametrize(
    ("sample_weight", "error", "message"),
    [
        (np.ones(5), ShapeError, "BCELoss(): sample_weight must hold one weight a sample, shape (6,), got shape (5,)"),
        (np.ones((6, 1)), ShapeError, "got shape (6, 1): pass sample_weight.ravel()"),
        (np.r_[1.0, -0.5, np.ones(4)], ValueRangeError, "sample_weight must be non-negative, got -0.5 for sample 1"),
        (np.r_[1.0, np.nan, np.ones(4)], NonFiniteError, "BCELoss(): sample_weight"),
        (np.array(["a"] * 6), DTypeError, "BCELoss(): sample_weight must hold numbers, got dtype <U1"),
    ],
    ids=["length", "column", "negative", "nan", "text"],
)
def test_bad_sample_weights_are_refused_by_name(sample_weight: object, error: type[Exception], message: str) -> None:
    a, y = np.full((6, 1), 0.5), np.ones((6, 1))
    with pytest.raises(error, match=re.escape(message)):
        BCELoss().forward_weighted(a, y, sample_weight)  # type: ignore[arg-type]


def test_the_users_weights_are_left_as_they_were() -> None:
    w = weights(6)
    kept = w.copy()
    loss = BCELoss()
    loss.forward_weighted(np.full((6, 1), 0.3, dtype=np.float32), np.ones((6, 1), dtype=np.float32), w)
    loss.backward()
    np.testing.assert_array_equal(w, kept)


class Unweighted(Loss):
    """A custom loss that says nothing of weights."""

    def check(self, y_pred: Array, y_true: Labels) -> Labels:
        return self.check_pair(y_pred, y_true)

    def value(self, y_pred: Array, y: Labels, w: SampleWeights | None = None) -> Scalar:
        return self.scalar(np.mean(y_pred - y))


def test_a_loss_that_takes_no_weights_says_so() -> None:
    with pytest.raises(ConfigError, match=re.escape("Unweighted(): Unweighted() takes no sample_weight")):
        Unweighted().forward_weighted(np.ones((2, 1)), np.ones((2, 1)), np.ones(2))


@pytest.mark.parametrize(
    ("pos_weight", "error", "message"),
    [
        (-1.0, ValueRangeError, "pos_weight must be finite and non-negative, got -1.0"),
        ([1.0, np.inf], ValueRangeError, "pos_weight must be finite and non-negative"),
        ([[1.0]], ConfigError, "pos_weight must be a number or a 1-d array of numbers (one an output column), got "
                               "float64 of shape (1, 1)"),
        ([], ConfigError, "pos_weight must be a number or a 1-d array of numbers (one an output column), got "
                          "float64 of shape (0,)"),
    ],
)
def test_bad_pos_weights_are_refused(pos_weight: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=re.escape(f"BCEWithLogitsLoss: {message}")):
        BCEWithLogitsLoss(pos_weight=pos_weight)  # type: ignore[arg-type]


def test_a_pos_weight_a_column_must_fit_the_columns() -> None:
    loss = BCEWithLogitsLoss(pos_weight=[1.0, 2.0, 3.0])
    assert repr(loss) == "BCEWithLogitsLoss(pos_weight=[1.0, 2.0, 3.0])"
    with pytest.raises(ShapeError, match=re.escape("BCEWithLogitsLoss(pos_weight=[1.0, 2.0, 3.0]): pos_weight holds 3 "
                                                   "weights, one an output column, but y_pred has shape (4, 2)")):
        loss.forward(np.zeros((4, 2)), np.ones((4, 2)))


@pytest.mark.parametrize("make", WEIGHTED, ids=lambda c: getattr(c, "__name__", "pos_weighted"))
def test_float64_weights_keep_a_float32_losss_gradient_float32(make: type[Loss]) -> None:
    loss = make()
    y_pred, y_true = loss_example(loss, np.random.default_rng(0))
    y_pred = y_pred.astype(np.float32)
    y_true = y_true if y_true.dtype.kind == "i" else y_true.astype(np.float32)
    loss.forward_weighted(y_pred, y_true, weights(6))
    assert loss.backward().dtype == np.float32
