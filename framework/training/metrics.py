"""Metrics of a whole set of predictions (an epoch, a test set), never averaged over batches.

Each takes `y_true` and `y_pred` and returns a float. The classification metrics are binary or over
several classes as the shape of y_pred says. Binary: both of the same shape, (m, 1) labels 0/1
(anything else is refused, naming the labels' range) and probabilities. Several classes: y_pred
(m, classes) of scores or probabilities, y_true (m,) of class indices or (m, classes) of one-hot
rows; "accuracy" is then `categorical_accuracy`, and precision, recall, F1 and AUC are macro averages
over the classes (one-vs-rest for AUC), as scikit-learn computes them. The regression metrics `mae`
and `mse` take labels of any value, of y_pred's shape.
"""

from collections.abc import Callable
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from framework.core.arrays import Array
from framework.core.errors import ShapeError, ValueRangeError
from framework.losses import check_class_indices
from framework.core.arrays import Labels

Metric: TypeAlias = Callable[[Labels, Array], float]
Counts: TypeAlias = npt.NDArray[np.intp]
"""One count a class (true positives, say)."""


def _confusion(name: str, y_true: Labels, y_pred: Array, threshold: float = 0.5) -> tuple[int, int, int, int]:
    """True positives, false positives, false negatives and true negatives of one column of
    probabilities against 0/1 labels, for the metric `name`."""
    if y_true.shape != y_pred.shape:
        raise ShapeError(f"metrics: y_true has shape {y_true.shape} but y_pred has shape {y_pred.shape}")
    _check_binary_labels(name, y_true)
    truth, predicted = y_true > 0.5, y_pred.real > threshold
    tp = int(np.count_nonzero(truth & predicted))
    fp = int(np.count_nonzero(~truth & predicted))
    fn = int(np.count_nonzero(truth & ~predicted))
    return tp, fp, fn, truth.size - tp - fp - fn


def _check_binary_labels(name: str, y_true: Labels) -> None:
    """Labels of a binary metric must be 0 or 1: regression targets or class indices given to one would
    be thresholded at 0.5 into a number that means nothing. A scan of the labels, once an epoch."""
    stray = (y_true != 0) & (y_true != 1)
    if not stray.any():
        return
    lo, hi = y_true.min(), y_true.max()
    among = f", {y_true[stray][0]} among them" if lo >= 0 and hi <= 1 else ""
    raise ValueRangeError(
        f"{name} on one output column needs 0/1 labels, got values from {lo} to {hi}{among}: it is a binary "
        "classification metric, which compares the predictions thresholded at 0.5 with the labels; for a "
        "regression, use metrics=['mae'] or ['mse']; for several classes, give the model one output column a "
        "class (CrossEntropyLoss)"
    )


def _binary_accuracy(name: str, y_true: Labels, y_pred: Array) -> float:
    tp, fp, fn, tn = _confusion(name, y_true, y_pred)
    return (tp + tn) / (tp + fp + fn + tn)


def binary_accuracy(y_true: Labels, y_pred: Array) -> float:
    """Share of predictions on the same side of 0.5 as their 0/1 label."""
    return _binary_accuracy("binary_accuracy", y_true, y_pred)


def precision(y_true: Labels, y_pred: Array) -> float:
    """tp / (tp + fp); 0 when nothing is predicted positive. Over several classes, the macro average:
    the mean of each class's precision, as scikit-learn's `precision_score(average="macro")`.

    >>> precision(np.array([0, 1, 1, 2]), np.eye(3)[[0, 1, 2, 2]])  # classes 0, 1, 2: 1, 1 and 1/2
    0.8333333333333334
    """
    tp, fp, _ = _class_counts("precision", y_true, y_pred)
    return _mean_ratio(tp, tp + fp)


def recall(y_true: Labels, y_pred: Array) -> float:
    """tp / (tp + fn); 0 when there is no positive label. Over several classes, the macro average."""
    tp, _, fn = _class_counts("recall", y_true, y_pred)
    return _mean_ratio(tp, tp + fn)


def f1(y_true: Labels, y_pred: Array) -> float:
    """2 tp / (2 tp + fp + fn), the harmonic mean of precision and recall. Over several classes, the
    macro average of each class's F1."""
    tp, fp, fn = _class_counts("f1", y_true, y_pred)
    return _mean_ratio(2 * tp, 2 * tp + fp + fn)


def _class_counts(name: str, y_true: Labels, y_pred: Array) -> tuple[Counts, Counts, Counts]:
    """True positives, false positives and false negatives of each class the metric averages over.

    One column of probabilities: the positive class alone (above 0.5 is predicted positive). Several
    columns of scores: each class among the labels or the predictions (a row's largest score is its
    prediction), as scikit-learn's macro averages take them; a class absent from both is left out."""
    if not _several_classes(y_pred):
        tp, fp, fn, _ = _confusion(name, y_true, y_pred)
        return np.array([tp]), np.array([fp]), np.array([fn])
    classes = y_pred.shape[1]
    truth = _class_indices(name, y_true, y_pred).astype(np.intp)
    confusion = np.bincount(truth * classes + np.argmax(y_pred.real, axis=1), minlength=classes * classes)
    confusion = confusion.reshape(classes, classes)  # [true class, predicted class]
    hits, predicted, actual = np.diagonal(confusion), confusion.sum(axis=0), confusion.sum(axis=1)
    present = (predicted + actual) > 0
    return hits[present], (predicted - hits)[present], (actual - hits)[present]


def _mean_ratio(numerators: Counts, denominators: Counts) -> float:
    """The mean over classes of numerator / denominator, a class whose denominator is 0 counting 0."""
    ratios = np.divide(numerators, denominators, out=np.zeros(len(numerators)), where=denominators > 0)
    return float(np.mean(ratios))


def auc(y_true: Labels, y_pred: Array) -> float:
    """Area under the ROC curve (scikit-learn's `roc_auc_score`); both classes must be present. Over
    several classes, the mean of each class's one-vs-rest AUC (`roc_auc_score(multi_class="ovr",
    average="macro")`), for which every class must be among the labels."""
    try:
        from sklearn.metrics import roc_auc_score
    except ImportError as e:  # pragma: no cover - depends on the installed extras
        raise ImportError("the auc metric needs scikit-learn: pip install 'framework[datasets]'") from e
    if _several_classes(y_pred):
        classes = y_pred.shape[1]
        labels = _class_indices("auc", y_true, y_pred)
        absent = np.setdiff1d(np.arange(classes), labels)
        if absent.size:
            which = f"{'class' if absent.size == 1 else 'classes'} {', '.join(str(c) for c in absent)}"
            raise ValueRangeError(f"auc: y_true has no sample of {which} (y_pred scores {classes} classes), so the "
                                  "one-vs-rest AUC is undefined: evaluate on samples of every class")
        one_vs_rest = labels[:, np.newaxis] == np.arange(classes)
        return float(roc_auc_score(one_vs_rest, y_pred.real, average="macro"))
    if y_true.shape != y_pred.shape:
        raise ShapeError(f"auc: y_true has shape {y_true.shape} but y_pred has shape {y_pred.shape}")
    _check_binary_labels("auc", y_true)
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
    truth = _class_indices("categorical_accuracy", y_true, y_pred)
    return float(np.mean(np.argmax(y_pred.real, axis=1) == truth))


def _several_classes(y_pred: Array) -> bool:
    """y_pred holds a score for each of several classes, (m, classes), not one column of probabilities."""
    return y_pred.ndim == 2 and y_pred.shape[1] > 1


def _class_indices(name: str, y_true: Labels, y_pred: Array) -> Labels:
    """The true class of each row of the (m, classes) scores `y_pred`: y_true itself when it is (m,)
    integer indices, the argmax of its rows when it is (m, classes) one-hot (or probability) rows; else
    a clear error naming the metric `name`."""
    if y_pred.ndim != 2:
        raise ShapeError(f"{name}: y_pred must be (m, classes) of scores, got shape {y_pred.shape}")
    m, classes = y_pred.shape
    if y_true.shape == (m,):
        check_class_indices(name, "y_true", y_true, f"y_pred of shape {y_pred.shape}", classes)
        return y_true
    if y_true.shape == y_pred.shape:
        if not (y_true.min() >= 0 and y_true.max() <= 1 and np.all(np.abs(y_true.sum(axis=1) - 1) <= 1e-6)):
            raise ValueRangeError(
                f"{name}: rows of y_true must be one-hot (or probabilities summing to 1); for several labels a row, "
                f"as with BCEWithLogitsLoss, {name.split('_')[-1]} is not categorical"
            )
        indices: npt.NDArray[np.intp] = np.argmax(y_true, axis=1)
        return indices
    raise ShapeError(
        f"{name}: y_pred has shape {y_pred.shape}, so y_true must be class indices of shape "
        f"({m},) or one-hot rows of shape {y_pred.shape}, got {y_true.shape}"
    )


def accuracy(y_true: Labels, y_pred: Array) -> float:
    """`categorical_accuracy` when y_pred has several columns (a score for each class), else
    `binary_accuracy`: model.compile(metrics=["accuracy"]) fits either kind of model.

    >>> accuracy(np.array([[1.0], [0.0]]), np.array([[0.8], [0.6]]))  # one column: binary, 0.6 -> 1 is wrong
    0.5
    >>> accuracy(np.array([1, 0]), np.array([[0.2, 0.8], [0.6, 0.4]]))  # two columns: argmax
    1.0
    """
    if _several_classes(y_pred):
        return categorical_accuracy(y_true, y_pred)
    return _binary_accuracy("accuracy", y_true, y_pred)


def mae(y_true: Labels, y_pred: Array) -> float:
    """Mean absolute error over every entry: scikit-learn's `mean_absolute_error` (with several output
    columns, the mean of each column's, its "uniform_average"). A regression metric: any labels.

    >>> mae(np.array([[1.0], [3.0], [9.0]]), np.array([[2.0], [1.0], [9.0]]))  # (1 + 2 + 0) / 3
    1.0
    """
    return float(np.mean(np.abs(_errors("mae", y_true, y_pred))))


def mse(y_true: Labels, y_pred: Array) -> float:
    """Mean squared error over every entry: scikit-learn's `mean_squared_error`. A regression metric.

    >>> mse(np.array([[1.0], [3.0], [9.0]]), np.array([[2.0], [1.0], [9.0]]))  # (1 + 4 + 0) / 3
    1.6666666666666667
    """
    return float(np.mean(np.square(_errors("mse", y_true, y_pred))))


def _errors(name: str, y_true: Labels, y_pred: Array) -> npt.NDArray[np.float64]:
    """y_pred - y_true in float64, of one shape: labels (m,) against outputs (m, 1) would broadcast
    to (m, m), so they are refused, as the losses refuse them."""
    if y_true.shape != y_pred.shape:
        raise ShapeError(f"{name}: y_true has shape {y_true.shape} but y_pred has shape {y_pred.shape}: "
                         "reshape the labels to the outputs' shape; nothing is broadcast")
    errors: npt.NDArray[np.float64] = np.subtract(y_pred.real, y_true, dtype=np.float64)
    return errors


METRICS: dict[str, Metric] = {
    "accuracy": accuracy,
    "precision": precision,
    "recall": recall,
    "f1": f1,
    "auc": auc,
    "mae": mae,
    "mse": mse,
}


def get_metric(name: str) -> Metric:
    try:
        return METRICS[name]
    except KeyError:
        raise ValueRangeError(f"unknown metric {name!r}; known: {', '.join(METRICS)}") from None
