"""Metrics on small hand-worked examples: every expected value below is counted by hand in the
comments, and AUC is the share of (positive, negative) pairs ranked correctly, ties counting 1/2."""

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest

from framework import ShapeError, ValueRangeError
from framework.metrics import METRICS, accuracy, auc, binary_accuracy, f1, get_metric, precision, recall

Floats = npt.NDArray[np.float64]
Metric = Callable[[Floats, Floats], float]


def column(*values: float) -> Floats:
    return np.array(values, dtype=np.float64).reshape(-1, 1)


# index:            0    1    2    3    4    5    6    7
Y_TRUE = column(1, 1, 1, 0, 0, 0, 0, 1)
Y_PRED = column(0.9, 0.8, 0.3, 0.6, 0.2, 0.1, 0.7, 0.55)
# predicted positive (> 0.5): 0, 1, 3, 6, 7
# tp = {0, 1, 7} = 3, fn = {2} = 1, fp = {3, 6} = 2, tn = {4, 5} = 2


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        (binary_accuracy, 5 / 8),  # (tp + tn) / 8 = (3 + 2) / 8
        (precision, 3 / 5),  # tp / (tp + fp) = 3 / (3 + 2)
        (recall, 3 / 4),  # tp / (tp + fn) = 3 / (3 + 1)
        (f1, 2 / 3),  # 2 tp / (2 tp + fp + fn) = 6 / 9
    ],
    ids=["accuracy", "precision", "recall", "f1"],
)
def test_confusion_metrics_on_a_hand_counted_example(metric: Metric, expected: float) -> None:
    assert metric(Y_TRUE, Y_PRED) == pytest.approx(expected, rel=1e-15)


def test_auc_is_the_share_of_correctly_ranked_pairs() -> None:
    # positives 0.9, 0.8, 0.3, 0.55; negatives 0.6, 0.2, 0.1, 0.7 (16 pairs)
    # 0.9 and 0.8 beat all 4 negatives, 0.3 and 0.55 beat only 0.2 and 0.1: 4 + 4 + 2 + 2 = 12
    assert auc(Y_TRUE, Y_PRED) == pytest.approx(12 / 16, rel=1e-15)


def test_auc_counts_a_tie_as_half_a_pair() -> None:
    # positives 0.5, 0.8; negatives 0.5, 0.2: (0.5, 0.5) ties -> 1/2, the other three pairs are right
    assert auc(column(1, 0, 1, 0), column(0.5, 0.5, 0.8, 0.2)) == pytest.approx(3.5 / 4, rel=1e-15)


def test_auc_of_a_perfect_and_of_a_reversed_ranking() -> None:
    y = column(0, 0, 1, 1)
    assert auc(y, column(0.1, 0.2, 0.3, 0.4)) == 1.0
    assert auc(y, column(0.4, 0.3, 0.2, 0.1)) == 0.0


def test_a_probability_of_exactly_one_half_is_predicted_negative() -> None:
    y = column(1, 0)
    p = column(0.5, 0.5)
    assert binary_accuracy(y, p) == 0.5  # both predicted 0: the negative is right, the positive wrong
    assert recall(y, p) == 0.0


def test_the_zero_conventions_when_a_ratio_is_undefined() -> None:
    y = column(1, 0, 1)
    nothing_positive = column(0.1, 0.2, 0.3)
    assert precision(y, nothing_positive) == 0.0  # tp + fp = 0
    assert f1(y, nothing_positive) == 0.0  # tp = 0
    assert recall(column(0, 0, 0), column(0.9, 0.1, 0.8)) == 0.0  # tp + fn = 0
    assert binary_accuracy(column(0, 0, 0), column(0.9, 0.1, 0.8)) == pytest.approx(1 / 3, rel=1e-15)


def test_auc_needs_both_classes() -> None:
    with pytest.raises(ValueRangeError, match="both classes"):
        auc(column(1, 1, 1), column(0.2, 0.5, 0.9))


@pytest.mark.parametrize("name", sorted(METRICS))
def test_a_shape_mismatch_is_a_shape_error_naming_both_shapes(name: str) -> None:
    y_true = column(1, 0, 1, 0)
    with pytest.raises(ShapeError, match=r"\(4, 1\).*\(4,\)"):
        get_metric(name)(y_true, np.array([0.9, 0.1, 0.8, 0.2]))


def test_metrics_are_found_by_name_and_an_unknown_name_lists_the_known_ones() -> None:
    assert get_metric("accuracy") is accuracy
    assert get_metric("auc") is auc
    with pytest.raises(ValueRangeError, match=r"unknown metric 'acc'; known: accuracy, precision, recall, f1, auc"):
        get_metric("acc")
