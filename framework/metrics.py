"""Metrics of a whole set of predictions (an epoch, a test set), never averaged over batches.

Each takes `y_true` and `y_pred` of the same shape, (m, 1) labels 0/1 and probabilities for the
binary case, and returns a float.
"""

from collections.abc import Callable
from typing import TypeAlias

import numpy as np

from framework.arrays import Array
from framework.errors import ShapeError, ValueRangeError

Metric: TypeAlias = Callable[[Array, Array], float]


def _confusion(y_true: Array, y_pred: Array, threshold: float = 0.5) -> tuple[int, int, int, int]:
    if y_true.shape != y_pred.shape:
        raise ShapeError(f"metrics: y_true has shape {y_true.shape} but y_pred has shape {y_pred.shape}")
    truth, predicted = y_true > 0.5, y_pred.real > threshold
    tp = int(np.count_nonzero(truth & predicted))
    fp = int(np.count_nonzero(~truth & predicted))
    fn = int(np.count_nonzero(truth & ~predicted))
    return tp, fp, fn, truth.size - tp - fp - fn


def binary_accuracy(y_true: Array, y_pred: Array) -> float:
    """Share of predictions on the same side of 0.5 as their label."""
    tp, fp, fn, tn = _confusion(y_true, y_pred)
    return (tp + tn) / (tp + fp + fn + tn)


def precision(y_true: Array, y_pred: Array) -> float:
    """tp / (tp + fp); 0 when nothing is predicted positive."""
    tp, fp, _, _ = _confusion(y_true, y_pred)
    return tp / (tp + fp) if tp + fp else 0.0


def recall(y_true: Array, y_pred: Array) -> float:
    """tp / (tp + fn); 0 when there is no positive label."""
    tp, _, fn, _ = _confusion(y_true, y_pred)
    return tp / (tp + fn) if tp + fn else 0.0


def f1(y_true: Array, y_pred: Array) -> float:
    """2 tp / (2 tp + fp + fn), the harmonic mean of precision and recall."""
    tp, fp, fn, _ = _confusion(y_true, y_pred)
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def auc(y_true: Array, y_pred: Array) -> float:
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


METRICS: dict[str, Metric] = {
    "accuracy": binary_accuracy,
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
