"""Metrics on small hand-worked examples: every expected value below is counted by hand in the
comments, and AUC is the share of (positive, negative) pairs ranked correctly, ties counting 1/2."""

import re
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framework import ShapeError, ValueRangeError
from framework.training.metrics import METRICS, accuracy, auc, binary_accuracy, f1, get_metric, mae, mse, precision, recall

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
    with pytest.raises(ValueRangeError, match=r"^unknown metric 'acc'; known: accuracy, precision, recall, f1, auc, "
                                              r"mae, mse$"):
        get_metric("acc")


# Binary metrics on labels that are not 0/1; the regression metrics


def not_binary(name: str, values: str, among: str = "") -> str:
    return re.escape(
        f"{name} on one output column needs 0/1 labels, got values from {values}{among}: it is a binary classification "
        "metric, which compares the predictions thresholded at 0.5 with the labels; for a regression, use "
        "metrics=['mae'] or ['mse']; for several classes, give the model one output column a class (CrossEntropyLoss)"
    )


@pytest.mark.parametrize("name", ["accuracy", "precision", "recall", "f1", "auc"])
def test_a_binary_metric_refuses_labels_that_are_not_0_or_1_naming_their_range(name: str) -> None:
    digits = column(0, 3, 9, 1, 5)
    with pytest.raises(ValueRangeError, match="^" + not_binary(name, "0.0 to 9.0") + "$"):
        get_metric(name)(digits, column(0.1, 0.9, 0.8, 0.4, 0.6))
    soft = column(0, 0.25, 1, 0.9)  # within [0, 1], so the range alone would not say what is wrong
    with pytest.raises(ValueRangeError, match="^" + not_binary(name, "0.0 to 1.0", ", 0.25 among them") + "$"):
        get_metric(name)(soft, column(0.1, 0.9, 0.8, 0.4))
    assert get_metric(name)(column(0, 1, 1, 0), column(0.1, 0.9, 0.4, 0.8)) == pytest.approx(
        {"accuracy": 2 / 4, "precision": 1 / 2, "recall": 1 / 2, "f1": 1 / 2, "auc": 3 / 4}[name], rel=1e-15)
    for labels in (column(0, 1, 1, 0).astype(np.int64), column(0, 1, 1, 0).astype(bool)):  # 0/1 of any dtype
        assert get_metric(name)(labels, column(0.1, 0.9, 0.4, 0.8)) == get_metric(name)(column(0, 1, 1, 0),
                                                                                       column(0.1, 0.9, 0.4, 0.8))


def test_binary_accuracy_called_by_its_own_name_is_named_so() -> None:
    with pytest.raises(ValueRangeError, match="^" + not_binary("binary_accuracy", "-1.5 to 2.0")):
        binary_accuracy(column(-1.5, 2.0), column(0.2, 0.7))


def test_mae_and_mse_by_hand_on_labels_of_any_value() -> None:
    y, p = column(0, 9, -2.5, 4), column(1, 7, -2.5, 8)  # errors 1, -2, 0, 4
    assert mae(y, p) == (1 + 2 + 0 + 4) / 4
    assert mse(y, p) == (1 + 4 + 0 + 16) / 4
    assert mae(column(0, 9, 2, 4).astype(np.int64), column(1, 7, 2, 8)) == 7 / 4  # integer labels
    assert mse(column(1, 0).astype(bool), column(0.5, 0.5).astype(np.float32)) == 0.25  # bool labels, float32 outputs


@settings(max_examples=40)
@given(m=st.integers(1, 30), columns=st.integers(1, 4), scale=st.sampled_from([1e-3, 1.0, 1e3]),
       seed=st.integers(0, 2**32 - 1))
def test_mae_and_mse_equal_scikit_learn(m: int, columns: int, scale: float, seed: int) -> None:
    from sklearn.metrics import mean_absolute_error, mean_squared_error

    rng = np.random.default_rng(seed)
    y, p = rng.normal(0, scale, (m, columns)), rng.normal(0, scale, (m, columns))
    assert mae(y, p) == pytest.approx(mean_absolute_error(y, p), rel=1e-12)
    assert mse(y, p) == pytest.approx(mean_squared_error(y, p), rel=1e-12)


def test_a_regression_model_refuses_accuracy_and_auc_and_trains_with_mae_and_mse() -> None:
    from sklearn.metrics import mean_absolute_error, mean_squared_error

    from framework import Adam, Dense, MSELoss, Sequential

    rng = np.random.default_rng(0)
    x = rng.standard_normal((60, 4))
    y = rng.integers(0, 10, (60, 1)).astype(np.float64)  # the digits 0-9 as regression targets
    classifier_metrics = Sequential([Dense(4, 1, seed=0)])
    classifier_metrics.compile(loss=MSELoss(), optimizer=Adam(), metrics=["accuracy", "auc"])
    with pytest.raises(ValueRangeError, match="^" + not_binary("accuracy", "0.0 to 9.0") + "$"):
        classifier_metrics.evaluate(x, y)
    with pytest.raises(ValueRangeError, match="^" + not_binary("accuracy", "0.0 to 9.0") + "$"):
        classifier_metrics.fit(x, y, epochs=2, verbose=0)  # at the end of the first epoch
    model = Sequential([Dense(4, 1, seed=0)])
    model.compile(loss=MSELoss(), optimizer=Adam(lr=0.1), metrics=["mae", "mse"])
    history = model.fit(x, y, epochs=20, batch_size=60, verbose=0, seed=0)
    assert history.history["mse"][0] > history.history["mse"][-1]  # one batch an epoch: the epoch's loss is its mse
    assert history.history["mse"] == pytest.approx(history.history["loss"], rel=1e-12)
    results = model.evaluate(x, y)
    assert results["mae"] == pytest.approx(mean_absolute_error(y, model.predict(x)), rel=1e-12)
    assert results["mse"] == pytest.approx(mean_squared_error(y, model.predict(x)), rel=1e-12) == results["loss"]


# Several classes: y_pred (m, classes) of scores, y_true class indices or one-hot rows

# rows:                      0     1     2     3     4     5     6     7
CLASS_LABELS = np.array([0, 0, 1, 1, 1, 2, 2, 3])
PREDICTED = np.array([0, 1, 1, 1, 2, 2, 0, 0])  # the argmax of each row of SCORES below
SCORES = np.eye(4)[PREDICTED] * 0.7 + 0.1
# class 0: tp = {0}, fp = {6, 7}, fn = {1}: precision 1/3, recall 1/2, F1 2/5
# class 1: tp = {2, 3}, fp = {1}, fn = {4}: precision 2/3, recall 2/3, F1 4/6
# class 2: tp = {5}, fp = {4}, fn = {6}: precision 1/2, recall 1/2, F1 2/4
# class 3: tp = 0, never predicted, fn = {7}: precision 0, recall 0, F1 0


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        (precision, (1 / 3 + 2 / 3 + 1 / 2 + 0) / 4),
        (recall, (1 / 2 + 2 / 3 + 1 / 2 + 0) / 4),
        (f1, (2 / 5 + 4 / 6 + 2 / 4 + 0) / 4),
    ],
    ids=["precision", "recall", "f1"],
)
def test_macro_averages_over_classes_on_a_hand_counted_example(metric: Metric, expected: float) -> None:
    assert metric(CLASS_LABELS, SCORES) == pytest.approx(expected, rel=1e-15)
    assert metric(np.eye(4)[CLASS_LABELS], SCORES) == pytest.approx(expected, rel=1e-15)


def test_a_class_neither_labelled_nor_predicted_is_left_out_of_the_average() -> None:
    scores = np.zeros((3, 5))
    scores[[0, 1, 2], [0, 1, 1]] = 1.0  # predicted 0, 1, 1; classes 2, 3 and 4 never occur
    # class 0: precision 1, recall 1; class 1: tp 1 (row 1), fp 1 (row 2): precision 1/2; recall 1/1
    assert precision(np.array([0, 1, 0]), scores) == pytest.approx((1 / 1 + 1 / 2) / 2, rel=1e-15)
    assert recall(np.array([0, 1, 0]), scores) == pytest.approx((1 / 2 + 1 / 1) / 2, rel=1e-15)


def test_one_vs_rest_auc_by_hand() -> None:
    y = np.array([0, 1, 2, 0])
    p = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.3, 0.2, 0.5], [0.4, 0.4, 0.2]])
    # class 0: positives 0.6, 0.4 against negatives 0.2, 0.3: all 4 pairs right -> 1
    # class 1: positive 0.5 against 0.3, 0.2, 0.4: 3 of 3 -> 1
    # class 2: positive 0.5 against 0.1, 0.3, 0.2: 3 of 3 -> 1; then move row 3's class-0 score below row 2's
    assert auc(y, p) == 1.0
    p[3] = [0.25, 0.5, 0.25]
    # class 0: positives 0.6, 0.25 against 0.2, 0.3: 0.6 beats both, 0.25 beats 0.2 only -> 3/4
    # class 1: positive 0.5 against 0.3, 0.2 and 0.5 (a tie, 1/2) -> 2.5/3
    # class 2: positive 0.5 against 0.1, 0.3, 0.25 -> 1
    assert auc(y, p) == pytest.approx((3 / 4 + 2.5 / 3 + 1) / 3, rel=1e-15)


def softmax_rows(rng: np.random.Generator, m: int, classes: int) -> Floats:
    z = rng.normal(0, 2, (m, classes))
    e = np.exp(z - z.max(axis=1, keepdims=True))
    p: Floats = e / e.sum(axis=1, keepdims=True)
    return p


@settings(max_examples=60)
@given(m=st.integers(1, 40), classes=st.integers(2, 6), seed=st.integers(0, 2**32 - 1))
def test_macro_precision_recall_and_f1_equal_scikit_learn(m: int, classes: int, seed: int) -> None:
    from sklearn.metrics import f1_score, precision_score, recall_score

    rng = np.random.default_rng(seed)
    y, p = rng.integers(0, classes, m), softmax_rows(rng, m, classes)
    predicted = p.argmax(axis=1)
    for metric, reference in ((precision, precision_score), (recall, recall_score), (f1, f1_score)):
        expected = reference(y, predicted, average="macro", zero_division=0)
        assert metric(y, p) == pytest.approx(expected, rel=1e-12, abs=1e-15), metric.__name__
        assert metric(np.eye(classes)[y], p) == pytest.approx(expected, rel=1e-12, abs=1e-15), metric.__name__


@settings(max_examples=60)
@given(m=st.integers(6, 40), classes=st.integers(2, 6), seed=st.integers(0, 2**32 - 1))
def test_one_vs_rest_macro_auc_equals_scikit_learn(m: int, classes: int, seed: int) -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    y = rng.permutation(np.concatenate([np.arange(classes), rng.integers(0, classes, m - classes)]))  # every class
    p = softmax_rows(rng, m, classes)
    # scikit-learn takes two classes as a binary task, scored by the second column (the first is 1 minus it)
    expected = roc_auc_score(y, p[:, 1]) if classes == 2 else roc_auc_score(y, p, multi_class="ovr", average="macro")
    assert auc(y, p) == pytest.approx(expected, rel=1e-12)
    assert auc(np.eye(classes)[y], p) == pytest.approx(expected, rel=1e-12)


def test_auc_with_a_class_absent_from_the_labels_names_it() -> None:
    p = np.full((4, 3), 1 / 3)
    message = r"auc: y_true has no sample of class 2 \(y_pred scores 3 classes\), so the one-vs-rest AUC is undefined"
    with pytest.raises(ValueRangeError, match=message):
        auc(np.array([0, 1, 1, 0]), p)
    with pytest.raises(ValueRangeError, match=r"auc: y_true has no sample of classes 1, 2 \(y_pred scores 3 classes\)"):
        auc(np.eye(3)[[0, 0, 0, 0]], p)


@pytest.mark.parametrize("name", ["precision", "recall", "f1", "auc"])
def test_several_labels_a_row_or_a_wrong_shape_are_refused_naming_the_metric(name: str) -> None:
    multi_label = np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]])
    with pytest.raises(ValueRangeError, match=rf"{name}: rows of y_true must be one-hot .* {name} is not categorical"):
        get_metric(name)(multi_label, np.full((2, 3), 0.5))
    with pytest.raises(ShapeError, match=rf"{name}: y_pred has shape \(2, 3\), so y_true must be class indices of "
                                         rf"shape \(2,\) or one-hot rows of shape \(2, 3\), got \(2, 1\)"):
        get_metric(name)(np.zeros((2, 1)), np.full((2, 3), 0.5))
    with pytest.raises(ValueRangeError, match=rf"{name}: class indices must lie in \[0, 3\)"):
        get_metric(name)(np.array([0, 3]), np.full((2, 3), 0.5))


def test_a_cross_entropy_model_trains_and_evaluates_with_every_metric() -> None:
    from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

    from framework import SGD, CrossEntropyLoss, Dense, Sequential

    rng = np.random.default_rng(0)
    x = rng.standard_normal((60, 4))
    y = np.argmax(x[:, :3], axis=1)
    model = Sequential([Dense(4, 3, seed=0)])
    model.compile(loss=CrossEntropyLoss(), optimizer=SGD(lr=0.5), metrics=["accuracy", "precision", "recall", "f1", "auc"])
    history = model.fit(x, y, epochs=10, batch_size=16, verbose=0, seed=0)
    assert set(history.history) == {"loss", "accuracy", "precision", "recall", "f1", "auc"}
    results = model.evaluate(x, y)
    probabilities = CrossEntropyLoss().probabilities(model.predict(x))
    predicted = probabilities.argmax(axis=1)
    assert results["precision"] == pytest.approx(precision_score(y, predicted, average="macro", zero_division=0), rel=1e-12)
    assert results["recall"] == pytest.approx(recall_score(y, predicted, average="macro", zero_division=0), rel=1e-12)
    assert results["f1"] == pytest.approx(f1_score(y, predicted, average="macro", zero_division=0), rel=1e-12)
    assert results["auc"] == pytest.approx(roc_auc_score(y, probabilities, multi_class="ovr"), rel=1e-12)
    assert results["auc"] > 0.9 and results["accuracy"] == np.mean(predicted == y) > 0.8
