"""Metrics of a whole set of predictions (an epoch, a test set), never averaged over batches.

Each takes `y_true` and `y_pred` and returns a float. The binary metrics take both of the same
shape, (m, 1) labels 0/1 and probabilities; `categorical_accuracy` takes y_pred (m, classes) of
scores and y_true (m,) of class indices or (m, classes) of one-hot rows. "accuracy" is either,
chosen by the shape of y_pred.
"""

from collections.abc import Callable
from typing import TypeAlias

import numpy as np

from framework.arrays import Array
from framework.errors import ShapeError, ValueRangeError
from framework.losses import check_class_indices
from framework.arrays import Labels

Metric: TypeAlias = Callable[[Labels, Array], float]


def _confusion(y_true: Labels, y_pred: Array, threshold: float = 0.5) -> tuple[int, int, int, int]:
    if y_true.shape != y_pred.shape:
        raise ShapeError(f"metrics: y_true has shape {y_true.shape} but y_pred has shape {y_pred.shape}")
    truth, predicted = y_true > 0.5, y_pred.real > threshold
    tp = int(np.count_nonzero(truth & predicted))
    fp = int(np.count_nonzero(~truth & predicted))
    fn = int(np.count_nonzero(truth & ~predicted))
    return tp, fp, fn, truth.size - tp - fp - fn


def binary_accuracy(y_true: Labels, y_pred: Array) -> float:
    """Share of predictions on the same side of 0.5 as their label."""
    tp, fp, fn, tn = _confusion(y_true, y_pred)
    return (tp + tn) / (tp + fp + fn + tn)


def precision(y_true: Labels, y_pred: Array) -> float:
    """tp / (tp + fp); 0 when nothing is predicted positive."""
    tp, fp, _, _ = _confusion(y_true, y_pred)
    return tp / (tp + fp) if tp + fp else 0.0


def recall(y_true: Labels, y_pred: Array) -> float:
    """tp / (tp + fn); 0 when there is no positive label."""
    tp, _, fn, _ = _confusion(y_true, y_pred)
    return tp / (tp + fn) if tp + fn else 0.0


def f1(y_true: Labels, y_pred: Array) -> float:
    """2 tp / (2 tp + fp + fn), the harmonic mean of precision and recall."""
    tp, fp, fn, _ = _confusion(y_true, y_pred)
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def auc(y_true: Labels, y_pred: Array) -> float:
    """Area under the ROC curve (scikit-learn's `roc_auc_score`); both classes must be present."""
    try:
        from sklearn.metrics import roc_auc_score
    except ImportError as e:  # pragma: no cover - depends on the installed extras
        raise ImportError("the auc metric needs scikit-learn: pip install 'framework[datasets]'") from e
    if y_true.shape != y_pred.shape:
        raise ShapeError(f"auc: y_true has shape {y_true.shape} but y_pred has shape {y_pred.shape}")
    truth = y_true.reshape(-1) > 0.5
    if truth.all() or not truth.any():
        raise ValueRangeError("auc needs both classes among the labels")
    return float(roc_auc_score(truth, y_pred.real.reshape(-1)))


def categorical_accuracy(y_true: Labels, y_pred: Array) -> float:
    """Share of rows whose largest score is at the true class. y_pred is (m, classes) of logits or
    probabilities; y_true is (m,) of integer class indices, or (m, classes) of one-hot (or
    probability) rows whose largest entry is the class.

    >>> scores = np.array([[0.1, 0.2, 3.0], [2.0, 1.0, 0.0], [5.0, 0.0, 1.0]])
    >>> categorical_accuracy(np.array([2, 0, 1]), scores)  # rows 0 and 1 right, row 2 picks class 0
    0.6666666666666666
    """
    if y_pred.ndim != 2:
        raise ShapeError(f"categorical_accuracy: y_pred must be (m, classes) of scores, got shape {y_pred.shape}")
    m, classes = y_pred.shape
    if y_true.shape == (m,):
        check_class_indices("categorical_accuracy", "y_true", y_true, f"y_pred of shape {y_pred.shape}", classes)
        truth = y_true
    elif y_true.shape == y_pred.shape:
        if not (y_true.min() >= 0 and y_true.max() <= 1 and np.all(np.abs(y_true.sum(axis=1) - 1) <= 1e-6)):
            raise ValueRangeError(
                "categorical_accuracy: rows of y_true must be one-hot (or probabilities summing to 1); for "
                "several labels a row, as with BCEWithLogitsLoss, accuracy is not categorical"
            )
        truth = np.argmax(y_true, axis=1)
    else:
        raise ShapeError(
            f"categorical_accuracy: y_pred has shape {y_pred.shape}, so y_true must be class indices of shape "
            f"({m},) or one-hot rows of shape {y_pred.shape}, got {y_true.shape}"
        )
    return float(np.mean(np.argmax(y_pred.real, axis=1) == truth))


def accuracy(y_true: Labels, y_pred: Array) -> float:
    """`categorical_accuracy` when y_pred has several columns (a score for each class), else
    `binary_accuracy`: model.compile(metrics=["accuracy"]) fits either kind of model.

    >>> accuracy(np.array([[1.0], [0.0]]), np.array([[0.8], [0.6]]))  # one column: binary, 0.6 -> 1 is wrong
    0.5
    >>> accuracy(np.array([1, 0]), np.array([[0.2, 0.8], [0.6, 0.4]]))  # two columns: argmax
    1.0
    """
    if y_pred.ndim == 2 and y_pred.shape[1] > 1:
        return categorical_accuracy(y_true, y_pred)
    return binary_accuracy(y_true, y_pred)


METRICS: dict[str, Metric] = {
    "accuracy": accuracy,
    "precision": precision,
    "recall": recall,
    "f1": f1,
    "auc": auc,
}


def get_metric(name: str) -> Metric:
    try:
        return METRICS[name]
    except KeyError:
        raise ValueRangeError(f"unknown metric {name!r}; known: {', '.join(METRICS)}") from None
