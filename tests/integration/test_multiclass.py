"""The multi-class case end to end: categorical accuracy on hand-counted examples, "accuracy" choosing
binary or categorical by the shape of y_pred, the 10-class digits, and a small network trained with
CrossEntropyLoss on integer labels."""

import time

import numpy as np
import numpy.typing as npt
import pytest

from framework import Adam, Dense, DTypeError, ReLU, Sequential, ShapeError, ValueRangeError
from framework.datasets import ClassSplit, load_digits
from framework.losses import CrossEntropyLoss
from framework.training.metrics import METRICS, accuracy, binary_accuracy, categorical_accuracy, get_metric

Floats = npt.NDArray[np.float64]

# rows:             0                  1                 2                  3                  4
SCORES = np.array([[2.0, 1.0, 0.1], [0.2, 0.5, 0.3], [-1.0, -3.0, -2.0], [0.0, 4.0, 4.5], [1.0, 0.0, 3.0]])
LABELS = np.array([0, 1, 1, 2, 0])
# argmax by row: 0, 1, 0, 2, 2 -> rows 0, 1 and 3 right, rows 2 and 4 wrong: 3 / 5


def test_categorical_accuracy_of_class_indices_and_of_one_hot_rows() -> None:
    assert categorical_accuracy(LABELS, SCORES) == 3 / 5
    assert categorical_accuracy(np.eye(3)[LABELS], SCORES) == 3 / 5
    assert categorical_accuracy(LABELS.astype(np.uint8), SCORES) == 3 / 5


def test_categorical_accuracy_takes_the_largest_entry_of_probability_rows_as_the_class() -> None:
    soft = np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.2, 0.2, 0.6], [0.0, 0.0, 1.0], [0.5, 0.1, 0.4]])
    # classes 0, 1, 2, 2, 0 against the argmax 0, 1, 0, 2, 2: rows 0, 1, 3 right
    assert categorical_accuracy(soft, SCORES) == 3 / 5


def test_accuracy_picks_binary_for_one_column_and_categorical_for_several() -> None:
    binary_y, binary_p = np.array([[1.0], [0.0], [1.0], [0.0]]), np.array([[0.9], [0.4], [0.3], [0.6]])
    # one column: thresholded at 0.5 -> 1, 0, 0, 1: rows 0 and 1 right
    assert accuracy(binary_y, binary_p) == binary_accuracy(binary_y, binary_p) == 2 / 4
    assert accuracy(LABELS, SCORES) == accuracy(np.eye(3)[LABELS], SCORES) == 3 / 5
    # two columns is already categorical: argmax 1, 0 against classes 1, 1
    assert accuracy(np.array([1, 1]), np.array([[0.2, 0.8], [0.6, 0.4]])) == 1 / 2


def test_the_accuracy_metric_by_name_is_the_dispatching_one_and_the_other_names_are_unchanged() -> None:
    assert get_metric("accuracy") is accuracy
    assert list(METRICS) == ["accuracy", "precision", "recall", "f1", "auc", "mae", "mse"]


def test_categorical_accuracy_errors() -> None:
    with pytest.raises(ShapeError, match=r"categorical_accuracy: y_pred has shape \(5, 3\), so y_true must be class "
                                         r"indices of shape \(5,\) or one-hot rows of shape \(5, 3\), got \(5, 1\)"):
        categorical_accuracy(LABELS.reshape(-1, 1), SCORES)
    with pytest.raises(DTypeError, match=r"categorical_accuracy: y_true of shape \(5,\) must be integer class indices, "
                                         r"got dtype float64"):
        categorical_accuracy(LABELS.astype(np.float64), SCORES)
    with pytest.raises(ValueRangeError, match=r"class indices must lie in \[0, 3\) for y_pred of shape \(5, 3\), got "
                                              r"values from 0 to 3"):
        categorical_accuracy(np.array([0, 1, 3, 2, 0]), SCORES)
    with pytest.raises(ValueRangeError, match=r"rows of y_true must be one-hot .* accuracy is not categorical"):
        categorical_accuracy(np.array([[1.0, 1.0, 0.0]] * 5), SCORES)
    with pytest.raises(ShapeError, match=r"categorical_accuracy: y_pred must be \(m, classes\) of scores, got "
                                         r"shape \(5,\)"):
        categorical_accuracy(LABELS, SCORES[:, 0])


@pytest.fixture(scope="module")
def digits() -> ClassSplit:
    return load_digits()


def test_load_digits_is_a_stratified_standardised_10_class_split(digits: ClassSplit) -> None:
    assert digits.x_train.shape == (1347, 64) and digits.x_test.shape == (450, 64)
    assert digits.x_train.dtype == np.float64
    assert digits.y_train.shape == (1347,) and digits.y_test.shape == (450,)
    assert digits.y_train.dtype == digits.y_test.dtype == np.int64
    train_counts, test_counts = np.bincount(digits.y_train), np.bincount(digits.y_test)
    assert len(train_counts) == len(test_counts) == 10
    # stratified: each class keeps its share of 1,797 (between 174 and 183 images) on both sides, to one image
    np.testing.assert_allclose(test_counts / 450, (train_counts + test_counts) / 1797, atol=1 / 450)
    # standardised with the training set only: its columns have mean 0 and standard deviation 1 (or 0 where
    # the pixel is always blank), which the test set's only approach
    np.testing.assert_allclose(digits.x_train.mean(axis=0), 0, atol=1e-12)
    assert set(np.round(digits.x_train.std(axis=0), 12)) == {0.0, 1.0}
    assert not np.allclose(digits.x_test.mean(axis=0), 0, atol=1e-3)
    assert digits.description == "scikit-learn digits, 10 classes (0 to 9): 1347 train / 450 test images of 8x8 pixels"


def test_load_digits_in_float32_and_another_split() -> None:
    data = load_digits(test_size=0.5, seed=1, dtype=np.float32)
    assert data.x_train.dtype == data.x_test.dtype == np.float32
    assert data.y_train.dtype == np.int64
    assert len(data.y_test) == 899


def test_a_small_network_learns_the_10_digits_from_integer_labels(digits: ClassSplit) -> None:
    start = time.perf_counter()
    model = Sequential([Dense(64, 32, seed=0), ReLU(), Dense(32, 10, seed=1)])
    model.compile(loss=CrossEntropyLoss(), optimizer=Adam(lr=0.01), metrics=["accuracy"])
    # fit and evaluate take integer class indices, though their y is still annotated as a float Array
    y_train, y_test = digits.y_train, digits.y_test
    history = model.fit(digits.x_train, y_train, epochs=5, batch_size=32, verbose=0, seed=0)
    results = model.evaluate(digits.x_test, y_test)
    assert results["accuracy"] > 0.9
    assert history.history["accuracy"][-1] > 0.9
    assert history.history["loss"][-1] < history.history["loss"][0]
    # the same labels as one-hot rows give the same loss and accuracy
    one_hot: Floats = np.eye(10)[y_test]
    assert model.evaluate(digits.x_test, one_hot) == pytest.approx(results, rel=1e-12)
    assert time.perf_counter() - start < 5


def test_metrics_of_a_logits_model_are_taken_on_probabilities() -> None:
    from framework import BCEWithLogitsLoss

    rng = np.random.default_rng(3)
    x = rng.standard_normal((40, 3))
    y = (x[:, :1] > 0.3).astype(np.float64)
    model = Sequential([Dense(3, 1, seed=0)])
    model.compile(loss=BCEWithLogitsLoss(), optimizer=Adam(lr=0.01), metrics=["accuracy"])
    logits = model.predict(x)
    expected = float(np.mean((logits > 0) == (y > 0.5)))  # a logit above 0 is a probability above 0.5
    assert model.evaluate(x, y)["accuracy"] == expected
    assert expected != float(np.mean((logits > 0.5) == (y > 0.5)))
