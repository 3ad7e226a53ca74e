"""BCELoss, BCEWithLogitsLoss, CrossEntropyLoss and MSELoss: forward values worked out with the math
module, backward checked by the gradient checker (complex step and central differences), finite and
silent for logits of ±1e4 and for any finite input, and errors that name the loss and what it
expected. BCELoss: clipping, the complex step, float32 and call order too."""

import math
import re
from typing import Literal, cast

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from framework import (
    CallOrderError, DTypeError, FrameworkError, NonFiniteError, ShapeError, ValueRangeError, check_loss,
)
from framework.core.arrays import Array
from framework.losses import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, Loss, MSELoss, WeightedCosts
from tests.helpers.layers import H

Method = Literal["complex", "central"]
METHODS: tuple[Method, ...] = ("complex", "central")
Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
SEEDS = st.integers(0, 2**32 - 1)


def rows(*values: list[float]) -> Floats:
    return np.array(values, dtype=np.float64)


def sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z))


def log_softmax(z: list[float], c: int) -> float:
    return z[c] - math.log(sum(math.exp(v) for v in z))


# --- forward values, worked out independently -----------------------------------------------------


def test_bce_with_logits_is_the_bce_of_the_sigmoid() -> None:
    z, y = [[0.0, 2.0], [-3.0, 1.0]], [[1.0, 0.0], [0.0, 0.25]]
    # -[y log σ(z) + (1 - y) log(1 - σ(z))] entry by entry, the mean over the 4 entries
    expected = -sum(
        yi * math.log(sigmoid(zi)) + (1 - yi) * math.log(1 - sigmoid(zi))
        for z_row, y_row in zip(z, y) for zi, yi in zip(z_row, y_row)
    ) / 4
    assert BCEWithLogitsLoss().forward(rows(*z), rows(*y)) == pytest.approx(expected, rel=1e-14)
    # z = 0, y = 1 alone: log 2
    assert BCEWithLogitsLoss().forward(rows([0.0]), rows([1.0])) == pytest.approx(math.log(2), rel=1e-15)


def test_bce_with_logits_backward_is_sigmoid_minus_label_over_n() -> None:
    loss = BCEWithLogitsLoss()
    loss.forward(rows([0.0, 2.0], [-3.0, 1.0]), rows([1.0, 0.0], [0.0, 0.25]))
    expected = rows([sigmoid(0) - 1, sigmoid(2)], [sigmoid(-3), sigmoid(1) - 0.25]) / 4
    np.testing.assert_allclose(loss.backward(), expected, rtol=1e-14)


def test_cross_entropy_of_class_indices() -> None:
    z = [[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]
    # row 0: log(e + e² + e³) - 3; row 1: log 3 (uniform over 3 classes); the mean over the 2 rows
    expected = (math.log(math.e + math.e**2 + math.e**3) - 3 + math.log(3)) / 2
    assert CrossEntropyLoss().forward(rows(*z), np.array([2, 0])) == pytest.approx(expected, rel=1e-15)


def test_cross_entropy_of_one_hot_and_of_probability_rows() -> None:
    z = [[1.0, 2.0, 3.0], [0.5, -1.0, 0.0]]
    one_hot = rows([0, 0, 1], [1, 0, 0])
    expected = -(log_softmax(z[0], 2) + log_softmax(z[1], 0)) / 2
    assert CrossEntropyLoss().forward(rows(*z), one_hot) == pytest.approx(expected, rel=1e-15)
    soft = [[0.1, 0.2, 0.7], [0.5, 0.25, 0.25]]
    expected = -sum(p * log_softmax(z_row, c) for z_row, p_row in zip(z, soft) for c, p in enumerate(p_row)) / 2
    assert CrossEntropyLoss().forward(rows(*z), rows(*soft)) == pytest.approx(expected, rel=1e-14)


def test_cross_entropy_backward_is_softmax_minus_one_hot_over_batch() -> None:
    z = [[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]
    loss = CrossEntropyLoss()
    loss.forward(rows(*z), np.array([2, 0]))
    total = math.e + math.e**2 + math.e**3
    expected = rows([math.e / total, math.e**2 / total, math.e**3 / total - 1], [1 / 3 - 1, 1 / 3, 1 / 3]) / 2
    np.testing.assert_allclose(loss.backward(), expected, rtol=1e-14)


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64, np.uint8])
def test_class_indices_of_any_integer_dtype_give_the_one_hot_gradient(dtype: type[np.integer]) -> None:
    rng = np.random.default_rng(3)
    z, labels = rng.standard_normal((6, 4)), np.array([0, 3, 1, 1, 2, 3])
    by_index, by_row = CrossEntropyLoss(), CrossEntropyLoss()
    assert by_index.forward(z, labels.astype(dtype)) == pytest.approx(by_row.forward(z, np.eye(4)[labels]), rel=1e-15)
    np.testing.assert_allclose(by_index.backward(), by_row.backward(), rtol=1e-15)


def test_mse_is_the_mean_of_squares_over_all_entries() -> None:
    loss = MSELoss()
    # differences 1, -2, 0.5, 0: (1 + 4 + 0.25 + 0) / 4
    assert loss.forward(rows([1.0, 0.0], [2.5, 3.0]), rows([0.0, 2.0], [2.0, 3.0])) == 5.25 / 4
    np.testing.assert_array_equal(loss.backward(), rows([2.0, -4.0], [1.0, 0.0]) / 4)


# --- backward against the gradient checker --------------------------------------------------------


def float_labels(rng: np.random.Generator, shape: tuple[int, int], soft: bool) -> Floats:
    return rng.uniform(0, 1, shape) if soft else rng.integers(0, 2, shape).astype(np.float64)


def assert_passes(loss: Loss, y_pred: Array, y: Array, method: Method) -> None:
    report = check_loss(loss, y_pred, y, method=method)
    assert report.passed, report


@settings(max_examples=25)
@given(batch=st.integers(1, 6), width=st.integers(1, 4), seed=SEEDS, soft=st.booleans(), float32=st.booleans())
@pytest.mark.parametrize("method", METHODS)
def test_bce_with_logits_gradient(method: Method, batch: int, width: int, seed: int, soft: bool, float32: bool) -> None:
    rng = np.random.default_rng(seed)
    z = 3 * rng.standard_normal((batch, width))
    y = float_labels(rng, z.shape, soft)
    dtype = np.float32 if float32 else np.float64
    assert_passes(BCEWithLogitsLoss(), z.astype(dtype), y.astype(dtype), method)


@settings(max_examples=25)
@given(batch=st.integers(1, 6), classes=st.integers(2, 6), seed=SEEDS,
       labels=st.sampled_from(["one-hot", "probabilities"]), float32=st.booleans())
@pytest.mark.parametrize("method", METHODS)
def test_cross_entropy_gradient(
    method: Method, batch: int, classes: int, seed: int, labels: str, float32: bool
) -> None:
    rng = np.random.default_rng(seed)
    z = 3 * rng.standard_normal((batch, classes))
    if labels == "one-hot":
        y = np.eye(classes)[rng.integers(0, classes, batch)]
    else:
        y = rng.dirichlet(np.ones(classes), batch)
    dtype = np.float32 if float32 else np.float64
    assert_passes(CrossEntropyLoss(), z.astype(dtype), y.astype(dtype), method)


@settings(max_examples=25)
@given(batch=st.integers(1, 6), width=st.integers(1, 4), seed=SEEDS, float32=st.booleans())
@pytest.mark.parametrize("method", METHODS)
def test_mse_gradient(method: Method, batch: int, width: int, seed: int, float32: bool) -> None:
    rng = np.random.default_rng(seed)
    y_pred, y = 3 * rng.standard_normal((2, batch, width))
    dtype = np.float32 if float32 else np.float64
    assert_passes(MSELoss(), y_pred.astype(dtype), y.astype(dtype), method)


@pytest.mark.parametrize("method", METHODS)
def test_cross_entropy_gradient_is_exact_for_rows_summing_to_1_within_the_tolerance(method: Method) -> None:
    rng = np.random.default_rng(5)
    rows_off_by_5e_7 = rng.dirichlet(np.ones(4), 3) * (1 + 5e-7)
    assert_passes(CrossEntropyLoss(), rng.standard_normal((3, 4)), rows_off_by_5e_7, method)


@pytest.mark.parametrize("method", METHODS)
def test_gradients_at_saturated_logits(method: Method) -> None:
    z = rows([40.0, -40.0, 0.0], [-35.0, 30.0, 1e-9])
    assert_passes(BCEWithLogitsLoss(), z, rows([1.0, 0.0, 1.0], [1.0, 0.5, 0.0]), method)
    assert_passes(CrossEntropyLoss(), z, rows([0.0, 1.0, 0.0], [1.0, 0.0, 0.0]), method)


@pytest.mark.parametrize("loss", [BCEWithLogitsLoss(), CrossEntropyLoss(), MSELoss()], ids=repr)
def test_complex_input_gives_a_complex_cost_and_real_input_a_float(loss: Loss) -> None:
    z = rows([0.3, -1.2], [2.0, 0.1])
    y = rows([1.0, 0.0], [0.0, 1.0])
    assert type(loss.forward(z, y)) is float
    assert type(loss.forward(z.astype(np.complex128), y)) is complex


@pytest.mark.parametrize("loss", [BCELoss(), BCEWithLogitsLoss(), CrossEntropyLoss(), MSELoss()], ids=repr)
def test_forward_is_the_value_of_the_checked_pair(loss: Loss) -> None:
    z, y = rows([0.3, 0.2], [0.9, 0.1]), rows([1.0, 0.0], [0.0, 1.0])
    for a in (z, z + 1e-20j):
        cost = loss.forward(a, y)
        grad = loss.backward()
        assert loss.value(a, loss.check(a, y)) == cost
        np.testing.assert_array_equal(loss.backward(), grad)


@pytest.mark.parametrize("loss", [BCEWithLogitsLoss(), CrossEntropyLoss(), MSELoss()], ids=repr)
def test_float32_stays_float32_and_backward_consumes_the_cache(loss: Loss) -> None:
    z = rows([0.3, -1.2], [2.0, 0.1]).astype(np.float32)
    loss.forward(z, rows([1.0, 0.0], [0.0, 1.0]))
    assert loss.backward().dtype == np.float32
    with pytest.raises(CallOrderError, match=rf"{type(loss).__name__}\(\): backward\(\) called without a forward"):
        loss.backward()


# --- stability: huge logits give exact, finite values and no warning -----------------------------

# pytest runs with filterwarnings=error: any numpy overflow or invalid-value warning fails these tests


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_with_logits_at_plus_minus_1e4(dtype: type[np.floating]) -> None:
    loss = BCEWithLogitsLoss()
    z = np.array([[1e4, 1e4, -1e4, -1e4]], dtype=dtype)
    # right with certainty: 0; wrong by 1e4: a cost of 1e4, the mean 2e4 / 4
    assert loss.forward(z, np.array([[1.0, 0.0, 0.0, 1.0]], dtype=dtype)) == 5000.0
    grad = loss.backward()
    assert grad.dtype == dtype
    np.testing.assert_array_equal(grad, np.array([[0.0, 0.25, 0.0, -0.25]], dtype=dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_at_plus_minus_1e4(dtype: type[np.floating]) -> None:
    loss = CrossEntropyLoss()
    z = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4]], dtype=dtype)
    # row 0 right (cost 0), row 1 wrong: log_softmax = -1e4 - 1e4 = -2e4, so a cost of 2e4; the mean 1e4
    assert loss.forward(z, np.array([0, 1])) == 1e4
    grad = loss.backward()
    assert grad.dtype == dtype
    np.testing.assert_array_equal(grad, np.array([[0.0, 0.0, 0.0], [0.0, -0.5, 0.5]], dtype=dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_row_spanning_more_than_the_dtype_holds_is_still_exact_where_the_answer_is_finite(
    dtype: type[np.floating],
) -> None:
    big = np.finfo(dtype).max / 2
    z = np.array([[big * 1.5, -big * 1.5]], dtype=dtype)  # z0 - z1 overflows
    loss = CrossEntropyLoss()
    assert loss.forward(z, np.array([0])) == 0.0
    np.testing.assert_array_equal(loss.backward(), np.zeros((1, 2)))
    assert loss.forward(z, np.array([[1.0, 0.0]], dtype=dtype)) == 0.0
    with pytest.raises(NonFiniteError, match=r"CrossEntropyLoss\(\): the cost overflowed"):
        loss.forward(z, np.array([1]))


@pytest.mark.parametrize("loss", [BCEWithLogitsLoss(), MSELoss()], ids=repr)
def test_a_cost_beyond_the_dtype_is_a_non_finite_error(loss: Loss) -> None:
    z = np.array([[3e38], [3e38]], dtype=np.float32)
    with pytest.raises(NonFiniteError, match=rf"{type(loss).__name__}\(\).forward: overflow encountered"):
        loss.forward(z, np.zeros((2, 1), dtype=np.float32))


def finite(dtype: type[np.floating]) -> st.SearchStrategy[float]:
    return st.floats(allow_nan=False, allow_infinity=False, width=32 if dtype == np.float32 else 64)


@settings(max_examples=60)
@given(data=st.data(), dtype=st.sampled_from([np.float32, np.float64]), shape=hnp.array_shapes(min_dims=2, max_dims=2))
@pytest.mark.parametrize("loss", [BCEWithLogitsLoss(), CrossEntropyLoss(), MSELoss()], ids=repr)
def test_any_finite_input_gives_a_finite_cost_or_a_framework_error_and_never_a_warning(
    loss: Loss, data: st.DataObject, dtype: type[np.floating], shape: tuple[int, int]
) -> None:
    z = data.draw(hnp.arrays(dtype, shape, elements=finite(dtype)))
    y: Array
    if isinstance(loss, CrossEntropyLoss):
        classes = data.draw(hnp.arrays(np.int64, shape[0], elements=st.integers(0, shape[1] - 1)))
        y = np.eye(shape[1], dtype=dtype)[classes]
    else:
        labels = finite(dtype) if isinstance(loss, MSELoss) else st.sampled_from([0.0, 1.0])
        y = data.draw(hnp.arrays(dtype, shape, elements=labels))
    try:
        cost = loss.forward(z, y)
    except FrameworkError:  # overflow, probabilities given to CrossEntropyLoss, a single class
        return
    assert isinstance(cost, float) and math.isfinite(cost)
    assert np.all(np.isfinite(loss.backward()))


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("label", [2.0, -0.5])
def test_bce_with_logits_labels_outside_0_1(label: float) -> None:
    with pytest.raises(ValueRangeError, match=r"BCEWithLogitsLoss\(\): labels must lie in \[0, 1\]"):
        BCEWithLogitsLoss().forward(rows([0.5], [1.0]), rows([1.0], [label]))


@pytest.mark.parametrize("loss", [BCEWithLogitsLoss(), MSELoss()], ids=repr)
def test_elementwise_losses_name_both_shapes_and_dtypes(loss: Loss) -> None:
    name = type(loss).__name__
    with pytest.raises(ShapeError, match=rf"{name}\(\): y_pred has shape \(4, 1\) but y_true has shape \(4,\): "):
        loss.forward(np.zeros((4, 1)), np.zeros(4))
    with pytest.raises(DTypeError, match=rf"{name}\(\): y_pred must be a float array, got int64"):
        loss.forward(np.zeros((4, 1), dtype=np.int64), np.zeros((4, 1)))
    with pytest.raises(NonFiniteError, match=rf"{name}\(\): y_pred has 1 NaN and 0 inf entries, the first at \(2, 0\)"):
        loss.forward(rows([0.0], [1.0], [math.nan]), rows([0.0], [1.0], [1.0]))


def test_mse_non_finite_targets() -> None:
    with pytest.raises(NonFiniteError, match=r"MSELoss\(\): y_true has 0 NaN and 1 inf entries, the first at \(1, 0\)"):
        MSELoss().forward(rows([0.0], [1.0]), rows([0.0], [math.inf]))


@pytest.mark.parametrize("labels", [np.array([0, 3]), np.array([-1, 0])], ids=["too large", "negative"])
def test_cross_entropy_class_indices_out_of_range(labels: Ints) -> None:
    with pytest.raises(ValueRangeError, match=r"CrossEntropyLoss\(\): class indices must lie in \[0, 3\) for logits "
                                              r"of shape \(2, 3\), got values from -?\d to \d"):
        CrossEntropyLoss().forward(rows([0.0, 1.0, 2.0], [1.0, 0.0, 0.0]), labels)


def test_cross_entropy_float_labels_of_shape_batch() -> None:
    with pytest.raises(DTypeError, match=r"CrossEntropyLoss\(\): labels of shape \(2,\) must be integer class "
                                         r"indices, got dtype float64: pass y.astype\(np.int64\), or one-hot rows of "
                                         r"shape \(2, 3\)"):
        CrossEntropyLoss().forward(rows([0.0, 1.0, 2.0], [1.0, 0.0, 0.0]), np.array([2.0, 0.0]))


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (rows([0.0, 0.5, 0.4], [1.0, 0.0, 0.0]),
         r"label rows must sum to 1 \(one-hot or probabilities\), row 0 sums to 0.9$"),
        (rows([1.0, 1.0, 0.0], [1.0, 0.0, 0.0]), r"label rows must sum to 1 .*, row 0 sums to 2.0"),
        (rows([1.5, -0.5, 0.0], [1.0, 0.0, 0.0]), r"label rows must lie in \[0, 1\], got values from -0.5 to 1.5"),
    ],
    ids=["sums to 0.9", "two ones", "negative"],
)
def test_cross_entropy_label_rows(labels: Floats, message: str) -> None:
    with pytest.raises(ValueRangeError, match=r"CrossEntropyLoss\(\): " + message):
        CrossEntropyLoss().forward(rows([0.0, 1.0, 2.0], [1.0, 0.0, 0.0]), labels)


def test_cross_entropy_nan_label_rows_raise_non_finite_error() -> None:
    with pytest.raises(NonFiniteError, match=r"label rows has 1 NaN and 0 inf entries, the first at \(0, 0\)"):
        CrossEntropyLoss().forward(rows([0.0, 1.0, 2.0], [1.0, 0.0, 0.0]), rows([math.nan, 1.0, 0.0], [1.0, 0.0, 0.0]))


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (np.array([[2], [0]]),
         r"labels must be class indices of shape \(2,\) or one-hot rows of shape \(2, 3\), got \(2, 1\)"),
        (np.array([2, 0, 1]), r"labels must be .*, got \(3,\)"),
    ],
    ids=["a column", "another batch"],
)
def test_cross_entropy_label_shapes(labels: Ints, message: str) -> None:
    with pytest.raises(ShapeError, match=r"CrossEntropyLoss\(\): logits have shape \(2, 3\), so " + message):
        CrossEntropyLoss().forward(rows([0.0, 1.0, 2.0], [1.0, 0.0, 0.0]), labels)


def test_cross_entropy_given_probabilities_asks_for_logits() -> None:
    softmax = rows([0.2, 0.3, 0.5], [0.0, 1.0, 0.0])
    with pytest.raises(ValueRangeError, match=r"CrossEntropyLoss\(\): every row of y_pred is non-negative and sums "
                                              r"to 1: it looks like probabilities \(the output of a softmax\), but "
                                              r"CrossEntropyLoss wants logits"):
        CrossEntropyLoss().forward(softmax, np.array([2, 1]))
    # logits that are all in [0, 1] but do not sum to 1 are fine
    CrossEntropyLoss().forward(rows([0.2, 0.3, 0.4], [0.0, 1.0, 0.0]), np.array([2, 1]))


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((4, 1), r"got \(4, 1\): for one output column use BCEWithLogitsLoss"),
        ((4,), r"got \(4,\)$"),
        ((0, 3), r"got \(0, 3\)$"),
    ],
)
def test_cross_entropy_logit_shapes(shape: tuple[int, ...], message: str) -> None:
    with pytest.raises(ShapeError, match=r"CrossEntropyLoss\(\): expected logits of shape \(batch, classes\) with at "
                                         r"least 2 classes, " + message):
        CrossEntropyLoss().forward(np.ones(shape), np.zeros(shape[0], dtype=np.int64))


def test_cross_entropy_non_finite_and_integer_logits() -> None:
    with pytest.raises(NonFiniteError, match=r"CrossEntropyLoss\(\): y_pred has 0 NaN and 1 inf entries, the first "
                                             r"at \(1, 0\)"):
        CrossEntropyLoss().forward(rows([0.0, 1.0], [-math.inf, 0.0]), np.array([0, 1]))
    with pytest.raises(DTypeError, match=r"CrossEntropyLoss\(\): y_pred must be a float array, got int64"):
        CrossEntropyLoss().forward(np.array([[0, 2], [1, 0]]), np.array([0, 1]))


# --- BCELoss: values, clipping, the complex step, float32, call order and errors ------------------


def test_bce_forward_and_backward_match_hand_computation() -> None:
    loss = BCELoss()
    cost = loss.forward(np.array([[0.9], [0.2]]), np.array([[1.0], [0.0]]))
    assert isinstance(cost, float)
    assert cost == pytest.approx(-(math.log(0.9) + math.log(0.8)) / 2, rel=1e-15)
    assert cost == pytest.approx(0.164252033486018, rel=1e-14)
    # dJ/da = (a - y) / (a (1 - a) n): -0.1 / (0.09 * 2) and 0.2 / (0.16 * 2)
    np.testing.assert_allclose(loss.backward(), [[-5 / 9], [0.625]], rtol=1e-15)


def test_bce_is_the_mean_over_every_entry() -> None:
    loss = BCELoss()
    cost = loss.forward(np.array([[0.25, 0.5], [0.75, 0.1]]), np.array([[0.0, 1.0], [1.0, 0.0]]))
    assert cost == pytest.approx(-(2 * math.log(0.75) + math.log(0.5) + math.log(0.9)) / 4, rel=1e-15)
    np.testing.assert_allclose(loss.backward(), [[1 / 3, -0.5], [-1 / 3, 5 / 18]], rtol=1e-14)


def test_bce_clips_saturated_predictions_to_a_finite_cost_with_zero_gradient() -> None:
    loss = BCELoss()
    cost = loss.forward(np.array([[0.0], [1.0], [0.5]]), np.array([[0.0], [1.0], [1.0]]))
    eps = float(np.finfo(np.float64).eps)
    # the clipped entries cost -log(1 - eps) each; the third costs log 2
    assert cost == pytest.approx((2 * eps + math.log(2)) / 3, rel=1e-12)
    np.testing.assert_allclose(loss.backward(), [[0.0], [0.0], [-2 / 3]], rtol=1e-15, atol=0)


def test_bce_branch_marks_the_clipped_entries_and_is_all_false_when_none_is() -> None:
    loss = BCELoss()
    loss.forward(np.array([[0.0], [0.5], [1.0]]), np.array([[0.0], [1.0], [1.0]]))
    np.testing.assert_array_equal(cast(npt.NDArray[np.bool_], loss.branch()), [[True], [False], [True]])
    loss.forward(np.array([[0.25], [0.5]]), np.array([[0.0], [1.0]]))
    np.testing.assert_array_equal(cast(npt.NDArray[np.bool_], loss.branch()), [[False], [False]])


def test_bce_backward_follows_the_last_forward_and_leaves_the_predictions_alone() -> None:
    loss = BCELoss()
    y = np.array([[1.0], [0.0]])
    first, second = np.array([[0.9], [0.2]]), np.array([[0.5], [0.25]])
    loss.forward(first, y)
    loss.forward(second, y)
    grad = loss.backward()  # dJ/da = (a - y) / (a (1 - a) n) at the second predictions
    np.testing.assert_allclose(grad, [[-1.0], [2 / 3]], rtol=1e-15)
    grad[...] = 0  # the gradient is the caller's: the next forward and backward start afresh
    np.testing.assert_array_equal(second, [[0.5], [0.25]])
    loss.forward(second, y)
    np.testing.assert_allclose(loss.backward(), [[-1.0], [2 / 3]], rtol=1e-15)
    saturated = np.array([[1.0], [0.0]])
    loss.forward(saturated, y)  # clipped for the cost, not in the caller's array
    np.testing.assert_array_equal(saturated, [[1.0], [0.0]])
    np.testing.assert_array_equal(loss.backward(), [[0.0], [0.0]])


def test_bce_accepts_integer_and_boolean_labels() -> None:
    y_pred = np.array([[0.9], [0.2]])
    expected = -(math.log(0.9) + math.log(0.8)) / 2
    assert BCELoss().forward(y_pred, cast(Array, np.array([[1], [0]]))) == pytest.approx(expected, rel=1e-15)
    assert BCELoss().forward(y_pred, cast(Array, np.array([[True], [False]]))) == pytest.approx(expected, rel=1e-15)


def test_bce_complex_input_carries_dj_da() -> None:
    a = [0.9, 0.2, 0.6]
    y = [1.0, 0.0, 0.0]
    for k in range(3):
        step = np.zeros((3, 1))
        step[k, 0] = H
        cost = BCELoss().forward(np.array([a]).T + 1j * step, np.array([y]).T)
        assert isinstance(cost, complex)
        assert cost.real == pytest.approx(-(math.log(0.9) + math.log(0.8) + math.log(0.4)) / 3, rel=1e-15)
        # dJ/da_k = -(y_k / a_k - (1 - y_k) / (1 - a_k)) / n
        assert cost.imag / H == pytest.approx(-(y[k] / a[k] - (1 - y[k]) / (1 - a[k])) / 3, rel=1e-14)


@pytest.mark.parametrize("labels", [np.array([[1.0], [0.0]], dtype=np.float32), np.array([[1], [0]])],
                         ids=["float32 labels", "int labels"])
def test_float32_kept_through_bce(labels: Array) -> None:
    loss = BCELoss()
    cost = loss.forward(np.array([[0.9], [0.2]], dtype=np.float32), labels)
    assert cost == pytest.approx(0.164252033486018, rel=1e-6)
    grad = loss.backward()
    assert grad.dtype == np.float32
    np.testing.assert_allclose(grad, [[-5 / 9], [0.625]], rtol=1e-6)


def test_loss_backward_before_forward_and_twice_raises() -> None:
    loss = BCELoss()
    with pytest.raises(CallOrderError, match=r"BCELoss\(\)") as info:
        loss.backward()
    assert isinstance(info.value, RuntimeError)
    loss.forward(np.array([[0.9]]), np.array([[1.0]]))
    loss.backward()
    with pytest.raises(CallOrderError):
        loss.backward()


@pytest.mark.parametrize("labels", [[[1.0], [-0.5]], [[1.5], [0.0]]], ids=["negative", "above one"])
def test_bce_labels_outside_zero_one_raise_value_range_error(labels: list[list[float]]) -> None:
    with pytest.raises(ValueRangeError, match=r"BCELoss\(\): labels must lie in \[0, 1\]") as info:
        BCELoss().forward(np.array([[0.9], [0.2]]), np.array(labels))
    assert isinstance(info.value, ValueError) and isinstance(info.value, FrameworkError)


@pytest.mark.parametrize("loss", [BCELoss(), BCEWithLogitsLoss()], ids=repr)
def test_nan_labels_raise_non_finite_error(loss: Loss) -> None:
    with pytest.raises(NonFiniteError, match=r"labels has 1 NaN and 1 inf entries, the first at \(0, 0\)"):
        loss.forward(np.array([[0.9], [0.2], [0.5]]), np.array([[np.nan], [1.0], [np.inf]]))


@pytest.mark.parametrize("y_pred", [[[1.5], [0.2]], [[-0.1], [0.2]], [[3.2], [-1.4]]])
def test_bce_predictions_outside_zero_one_raise_value_range_error(y_pred: list[list[float]]) -> None:
    with pytest.raises(ValueRangeError, match=r"BCELoss\(\): y_pred must be probabilities in \[0, 1\].*logits"):
        BCELoss().forward(np.array(y_pred), np.array([[1.0], [0.0]]))


def test_bce_nan_prediction_raises_non_finite_error_naming_the_entry() -> None:
    with pytest.raises(NonFiniteError) as info:
        BCELoss().forward(np.array([[0.9], [np.nan], [0.3]]), np.array([[1.0], [0.0], [1.0]]))
    assert isinstance(info.value, ValueError) and isinstance(info.value, FrameworkError)
    assert "BCELoss()" in str(info.value) and "1 NaN and 0 inf" in str(info.value) and "(1, 0)" in str(info.value)


def test_bce_inf_prediction_raises_non_finite_error() -> None:
    with pytest.raises(NonFiniteError, match="0 NaN and 1 inf"):
        BCELoss().forward(np.array([[0.9], [np.inf]]), np.array([[1.0], [0.0]]))


def test_bce_flat_labels_against_column_predictions_raise_shape_error() -> None:
    with pytest.raises(ShapeError) as info:
        BCELoss().forward(np.full((4, 1), 0.5), np.array([1.0, 0.0, 1.0, 1.0]))
    message = str(info.value)
    assert "BCELoss()" in message and "(4, 1)" in message and "(4,)" in message and "reshape(-1, 1)" in message
    assert isinstance(info.value, ValueError)


def test_bce_labels_in_a_row_against_column_predictions_are_told_to_transpose() -> None:
    with pytest.raises(ShapeError, match=re.escape(
            "BCELoss(): y_pred has shape (4, 1) but y_true has shape (1, 4): labels one a column? transpose them, y.T")):
        BCELoss().forward(np.full((4, 1), 0.5), np.array([[1.0, 0.0, 1.0, 1.0]]))


def test_bce_rejects_integer_predictions() -> None:
    with pytest.raises(DTypeError, match="int64"):
        BCELoss().forward(cast(Array, np.array([[1], [0]])), np.array([[1.0], [0.0]]))


def test_bce_complex_stack_is_numpys_complex_log() -> None:
    """The checker's path (a complex stack of probes, 0/1 labels, sample weights): the same costs as
    numpy's complex log and log1p, real and imaginary parts, even for an imaginary part far from a step's."""
    rng = np.random.default_rng(0)
    a = rng.uniform(0.01, 0.99, (5, 40, 2)) + 1j * rng.standard_normal((5, 40, 2)) * np.array([1e-20, 1e-9, 1.0, 1e200, 1e-300])[:, None, None]
    y = rng.integers(0, 2, (40, 2)).astype(np.float64)
    w = rng.uniform(0.5, 2.0, 40)
    costs = cast(WeightedCosts, BCELoss()).costs(a, y, w)
    terms = np.where(y == 1, np.log(a), np.log1p(-a)) * w[:, np.newaxis]
    expected = -terms.reshape(5, -1).sum(axis=1) / y.size
    np.testing.assert_allclose(costs.real, expected.real, rtol=1e-14)
    np.testing.assert_allclose(costs.imag, expected.imag, rtol=1e-14)


def test_bce_tests_the_labels_again_at_each_check() -> None:
    """The 0/1 test of the labels is kept from one stack of probes to the next (the same checked
    labels), and redone by `check`: labels changed in place are not taken for 0s and 1s."""
    rng = np.random.default_rng(1)
    a = rng.uniform(0.1, 0.9, (3, 6, 1)) + 1e-20j
    y = rng.integers(0, 2, (6, 1)).astype(np.float64)
    loss = BCELoss()
    for labels in ([0, 1, 0, 1, 1, 0], [0.25, 1, 0, 0.5, 1, 0]):
        y[:, 0] = labels
        loss.check(a[0], y)
        costs = loss.costs(a, y)
        expected = -(y * np.log(a) + (1 - y) * np.log1p(-a)).reshape(3, -1).sum(axis=1) / y.size
        np.testing.assert_allclose(costs.real, expected.real, rtol=1e-14)
        np.testing.assert_allclose(costs.imag, expected.imag, rtol=1e-14)
