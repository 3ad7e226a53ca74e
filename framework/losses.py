"""Losses: `forward(y_pred, y_true)` gives the mean cost, `backward()` gives dL/dy_pred."""

from typing import Any

import numpy as np

from framework.core.arrays import Array, Labels, Mask, Scalar
from framework.core.errors import DTypeError, NonFiniteError, ShapeError, ValueRangeError
from framework.core.guard import Checked
from framework.core.layer import Config
from framework.core.validation import describe_nonfinite
from framework.layers.activations import Sigmoid, Softmax


class Loss(Checked):
    """Base class of losses. Like a layer, a loss keeps what its backward needs. A subclass
    implements `check` and `value` (or overrides `forward` whole), and `backward`; `forward` and
    `backward` are wrapped by `framework.core.guard` (floating-point errors raise a NonFiniteError
    naming the loss). `value` sets the cache backward takes (`cached`), since the gradient checker
    calls it without forward: so the call order is the cache's, not the guard's."""

    checked_methods = ("forward",)
    guarded_methods = ("backward",)
    labels_checked: bool = False
    """Set by `fit` around each batch's forward, once `check_labels` has passed on all its labels:
    `check` then skips that O(n) scan of the batch's labels."""

    def forward(self, y_pred: Array, y_true: Labels) -> Scalar:
        """The cost of y_pred: the pair is checked, then its value computed."""
        return self.value(y_pred, self.check(y_pred, y_true))

    def check(self, y_pred: Array, y_true: Labels) -> Labels:
        """Check the shapes, dtypes and values of the pair; return y_true as `value` takes it. The
        gradient checker calls this once, then `value` for each probe."""
        raise NotImplementedError(f"{type(self).__name__} must implement check(y_pred, y_true)")

    def value(self, y_pred: Array, y: Labels) -> Scalar:
        """The cost of a pair that `check` has passed (y as it returned it), keeping what backward
        needs: `costs` as a number, by default."""
        return self.scalar(self.costs(y_pred, y))

    def costs(self, y_pred: Array, y: Labels) -> Array:
        """The cost of y_pred reduced over y's axes only: a 0-d array for a y_pred of y's shape, and one
        cost a probe for a stack of them on a leading axis, which is how the gradient checker runs K
        probes at once (a loss that implements `value` alone is given them one at a time)."""
        raise NotImplementedError(f"{type(self).__name__} must implement value(y_pred, y) or costs(y_pred, y)")

    def check_labels(self, y_true: Labels) -> None:
        """O(n) checks of the labels' values (none by default); `check_pair` runs them unless `labels_checked`."""

    def backward(self) -> Array:
        raise NotImplementedError(f"{type(self).__name__} must implement backward()")

    def branch(self) -> Mask | None:
        """The discrete choices of the last forward (clipping), for the gradient checker; None if smooth."""
        return None

    def get_config(self) -> Config:
        """The constructor's arguments, JSON-ready, for `save` to keep with a compiled model (none for a
        loss without arguments); `type(loss)(**loss.get_config())` is the same loss."""
        return {}

    def probabilities(self, y_pred: Array) -> Array:
        """What the metrics see: probabilities for a loss that takes them, so a loss fed logits converts."""
        return y_pred

    def check_arrays(self, y_pred: Array, y_true: Labels) -> None:
        for what, a in (("y_pred", y_pred), ("y_true", y_true)):
            if not isinstance(a, np.ndarray):
                raise DTypeError(f"{self!r}: {what} must be a numpy array, got {type(a).__name__}")

    def check_pair(self, y_pred: Array, y_true: Labels) -> Array:
        """Checks of shapes and dtypes, and of the labels' values (`check_labels`) unless `fit` checked
        them already; returns y_true as a float array like y_pred."""
        self.check_arrays(y_pred, y_true)
        if y_pred.ndim == 0:
            raise ShapeError(f"{self!r}: y_pred must have a batch axis, got a 0-d array")
        if y_pred.shape != y_true.shape:
            hint = ""
            if y_true.ndim == 1 and y_pred.shape == (y_true.shape[0], 1):
                hint = ": reshape the labels with y.reshape(-1, 1)"
            raise ShapeError(
                f"{self!r}: y_pred has shape {y_pred.shape} but y_true has shape {y_true.shape}{hint}; "
                "nothing is broadcast"
            )
        if y_pred.size == 0:
            raise ShapeError(f"{self!r}: empty batch, y_pred has shape {y_pred.shape}")
        if y_pred.dtype.kind not in "fc":
            raise DTypeError(f"{self!r}: y_pred must be a float array, got {y_pred.dtype}")
        if y_true.dtype.kind not in "biuf":
            raise DTypeError(f"{self!r}: y_true must hold numbers, got {y_true.dtype}")
        y = y_true.astype(y_pred.real.dtype, copy=False)
        if not self.labels_checked:
            self.check_labels(y)
        return y

    def check_unit_interval(self, y: Labels, what: str) -> None:
        """Labels in [0, 1], NaN and inf refused: a scan, which `fit` runs once (see `labels_checked`)."""
        lo, hi = y.min(), y.max()
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise NonFiniteError(f"{self!r}: {describe_nonfinite(what, y)}")
        if not (lo >= 0 and hi <= 1):
            raise ValueRangeError(f"{self!r}: {what} must lie in [0, 1], got values from {lo} to {hi}")

    def finite_range(self, y_pred: Array) -> tuple[np.floating[Any], np.floating[Any]]:
        """The smallest and the largest real part of y_pred; a NonFiniteError if any entry is NaN or inf."""
        lo, hi = y_pred.real.min(), y_pred.real.max()
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise NonFiniteError(
                f"{self!r}: {describe_nonfinite('y_pred', y_pred)}: the model's output is not finite; check the "
                "input for NaN/inf, or lower the learning rate if training diverged"
            )
        return lo, hi

    def scalar(self, cost: np.inexact[Any] | Array) -> Scalar:
        """The cost as a float (a complex under the complex step), or a NonFiniteError if computing it
        overflowed where numpy sets no floating-point error (complex arithmetic)."""
        if not np.isfinite(cost):
            raise NonFiniteError(
                f"{self!r}: the cost overflowed {cost.real.dtype}: lower the learning rate if training diverged, "
                "or scale the data down"
            )
        return complex(cost) if np.iscomplexobj(cost) else float(cost)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class BCELoss(Loss):
    """Binary cross-entropy of probabilities, the mean over all entries:
    J = -1/n Σ [y log a + (1 - y) log(1 - a)].

    `a` is clipped to [eps, 1 - eps] (eps of its dtype) so that a saturated sigmoid gives a finite
    cost; the gradient is 0 where clipping bites, as the clipped cost is flat there.

    >>> loss = BCELoss()
    >>> round(loss.forward(np.array([[0.9], [0.2]]), np.array([[1.0], [0.0]])), 6)
    0.164252
    >>> loss.backward()
    array([[-0.55555556],
           [ 0.625     ]])
    """

    def __init__(self) -> None:
        self._cache: tuple[Array, Labels, Mask | None] | None = None

    def check_labels(self, y_true: Labels) -> None:
        self.check_unit_interval(y_true, "labels")

    def check(self, y_pred: Array, y_true: Labels) -> Labels:
        y = self.check_pair(y_pred, y_true)
        lo, hi = self.finite_range(y_pred)
        if not (lo >= 0 and hi <= 1):
            raise ValueRangeError(
                f"{self!r}: y_pred must be probabilities in [0, 1], got values from {lo} to {hi}: "
                "did you pass logits? end the model with Sigmoid()"
            )
        return y

    def costs(self, y_pred: Array, y: Labels) -> Array:
        eps = np.finfo(y_pred.real.dtype).eps
        a, clipped = y_pred, None
        if y_pred.real.min() < eps or y_pred.real.max() > 1 - eps:  # usually no entry is clipped: no copy
            low, high = y_pred.real < eps, y_pred.real > 1 - eps
            a = np.where(low, eps, y_pred)
            np.copyto(a, 1 - eps, where=high)
            clipped = low | high
        self._cache = a, y, clipped
        costs: Array = -(_weighted(np.log(a), y) + _weighted(np.log1p(-a), 1 - y)) / y.size
        return costs

    def backward(self) -> Array:
        a, y, clipped = self.cached(self._cache)
        self._cache = None
        grad = a - y
        d = 1 - a
        np.multiply(d, a, out=d)
        d *= a.size
        grad /= d  # dL/da = (a - y) / (a(1 - a)) / n
        if clipped is not None:
            np.copyto(grad, 0, where=clipped)
        return grad

    def branch(self) -> Mask | None:
        if self._cache is None:
            return None
        a, _, clipped = self._cache
        return np.zeros(a.shape, dtype=bool) if clipped is None else clipped


class BCEWithLogitsLoss(Loss):
    """Sigmoid and binary cross-entropy in one, on logits z, the mean over all entries:
    J = 1/n Σ [max(z, 0) - z y + log(1 + e^-|z|)], which is BCELoss(sigmoid(z), y) without its
    clipping: finite and exact for any finite z. The model ends with its last Dense, no Sigmoid.

    >>> loss = BCEWithLogitsLoss()
    >>> round(loss.forward(np.array([[0.0], [2.0]]), np.array([[1.0], [0.0]])), 6)  # (log 2 + log(1 + e²)) / 2
    1.410038
    >>> loss.backward()  # (sigmoid(z) - y) / n
    array([[-0.25      ],
           [ 0.44039854]])
    """

    def __init__(self) -> None:
        self._cache: tuple[Array, Mask, Labels] | None = None

    check_labels = BCELoss.check_labels  # the same labels: in [0, 1]

    def check(self, y_pred: Array, y_true: Labels) -> Labels:
        y = self.check_pair(y_pred, y_true)
        self.finite_range(y_pred)
        return y

    def costs(self, y_pred: Array, y: Labels) -> Array:
        positive = y_pred.real > 0
        e = np.exp(np.where(positive, -y_pred, y_pred))  # e^-|z|, at most 1
        self._cache = e, positive, y
        return _mean(np.where(positive, y_pred, 0) - y_pred * y + np.log1p(e), y)

    def probabilities(self, y_pred: Array) -> Array:
        return Sigmoid().forward(y_pred)  # metrics threshold probabilities at 0.5

    def backward(self) -> Array:
        e, positive, y = self.cached(self._cache)
        self._cache = None
        grad = np.where(positive, 1, e) / (1 + e)  # sigmoid(z): 1 / (1 + e^-z) for z > 0, e^z / (1 + e^z) else
        grad -= y
        grad /= grad.size
        return grad  # dL/dz = (sigmoid(z) - y) / n


class CrossEntropyLoss(Loss):
    """Softmax and the negative log-likelihood in one, on logits z of shape (batch, classes), the mean
    over the batch: J = -1/m Σ_i Σ_c y_ic log softmax(z_i)_c. The labels y are class indices of shape
    (batch,) (any integer dtype), or one-hot or probability rows of shape (batch, classes). The model
    ends with its last Dense, no softmax.

    >>> loss = CrossEntropyLoss()
    >>> z = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    >>> round(loss.forward(z, np.array([2, 0])), 6)  # (log(e + e² + e³) - 3 + log 3) / 2
    0.753109
    >>> loss.backward()  # (softmax(z) - onehot(y)) / m
    array([[ 0.04501529,  0.12236424, -0.16737952],
           [-0.33333333,  0.16666667,  0.16666667]])
    """

    def __init__(self) -> None:
        self._cache: tuple[Array, Labels] | None = None

    def check(self, y_pred: Array, y_true: Labels) -> Labels:
        self.check_arrays(y_pred, y_true)
        z = y_pred
        if z.ndim != 2 or z.shape[0] == 0 or z.shape[1] < 2:
            hint = ": for one output column use BCEWithLogitsLoss" if z.ndim == 2 and z.shape[1] == 1 else ""
            raise ShapeError(
                f"{self!r}: expected logits of shape (batch, classes) with at least 2 classes, got {z.shape}{hint}"
            )
        if z.dtype.kind not in "fc":
            raise DTypeError(f"{self!r}: y_pred must be a float array, got {z.dtype}")
        lo, hi = self.finite_range(z)
        if lo >= 0 and hi <= 1 and np.all(np.abs(z.real.sum(axis=1) - 1) <= 1e-6):
            raise ValueRangeError(
                f"{self!r}: every row of y_pred is non-negative and sums to 1: it looks like probabilities (the "
                "output of a softmax), but CrossEntropyLoss wants logits and applies the softmax itself; "
                "remove the model's final softmax"
            )
        return self._labels(y_true, z)

    def costs(self, y_pred: Array, y: Labels) -> Array:
        z = y_pred
        with np.errstate(over="ignore"):  # a row spanning more than the dtype holds: -inf is exact, scalar() reports
            shifted = z - z.real.max(axis=-1, keepdims=True)  # a real constant: exact under the complex step
            log_p = shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))
            if y.ndim == 1:
                cost: Array = -np.mean(log_p[..., np.arange(len(y)), y], axis=-1)
            else:  # 0 log p = 0, also where log p overflowed to -inf
                cost = -np.mean(np.sum(y * np.where(y > 0, log_p, 0), axis=-1), axis=-1)
        self._cache = log_p, y
        return cost

    def probabilities(self, y_pred: Array) -> Array:
        return Softmax().forward(y_pred)  # the logits' class probabilities; the argmax is the same

    def backward(self) -> Array:
        log_p, y = self.cached(self._cache)
        self._cache = None
        grad = np.exp(log_p)  # softmax(z)
        if y.ndim == 1:
            grad[np.arange(len(y)), y] -= 1
        else:  # dL/dz = softmax(z) Σy - y: exact for rows whose sum is 1 only up to rounding
            grad *= y.sum(axis=1, keepdims=True)
            grad -= y
        grad /= len(grad)
        return grad  # dL/dz = (softmax(z) - onehot(y)) / m

    def _labels(self, y_true: Labels, z: Array) -> Labels:
        """Class indices as they are, or rows converted to z's float dtype, after checking their values."""
        batch, classes = z.shape
        if y_true.shape == (batch,):
            check_class_indices(repr(self), "labels", y_true, f"logits of shape {z.shape}", classes)
            return y_true
        if y_true.shape != z.shape:
            raise ShapeError(
                f"{self!r}: logits have shape {z.shape}, so labels must be class indices of shape ({batch},) "
                f"or one-hot rows of shape {z.shape}, got {y_true.shape}"
            )
        if y_true.dtype.kind not in "biuf":
            raise DTypeError(f"{self!r}: y_true must hold numbers, got {y_true.dtype}")
        y = y_true.astype(z.real.dtype)
        self.check_unit_interval(y, "label rows")
        off = np.abs(y.sum(axis=1) - 1)
        if off.max() > 1e-6:
            row = int(np.argmax(off))
            raise ValueRangeError(
                f"{self!r}: label rows must sum to 1 (one-hot or probabilities), row {row} sums to {y[row].sum()}"
            )
        return y


def check_class_indices(who: str, name: str, y_true: Labels, scores: str, classes: int) -> None:
    """Integer class indices in [0, classes), or a clear error naming `who` ("CrossEntropyLoss()"),
    the labels' `name` and the `scores` they index ("logits of shape (5, 3)")."""
    if y_true.dtype.kind not in "iu":
        raise DTypeError(
            f"{who}: {name} of shape {y_true.shape} must be integer class indices, got dtype {y_true.dtype}: "
            f"pass y.astype(np.int64), or one-hot rows of shape ({y_true.shape[0]}, {classes})"
        )
    lo, hi = y_true.min(), y_true.max()
    if lo < 0 or hi >= classes:
        raise ValueRangeError(f"{who}: class indices must lie in [0, {classes}) for {scores}, got values from {lo} to {hi}")


class MSELoss(Loss):
    """Mean squared error, the mean over all entries: J = 1/n Σ (y_pred - y)².

    >>> loss = MSELoss()
    >>> loss.forward(np.array([[1.0], [2.0]]), np.array([[0.0], [4.0]]))  # (1² + 2²) / 2
    2.5
    >>> loss.backward()  # 2 (y_pred - y) / n
    array([[ 1.],
           [-2.]])
    """

    def __init__(self) -> None:
        self._cache: Array | None = None

    def check_labels(self, y_true: Labels) -> None:
        problem = describe_nonfinite("y_true", y_true)
        if problem:
            raise NonFiniteError(f"{self!r}: {problem}")

    def check(self, y_pred: Array, y_true: Labels) -> Labels:
        y = self.check_pair(y_pred, y_true)
        self.finite_range(y_pred)
        return y

    def costs(self, y_pred: Array, y: Labels) -> Array:
        diff = y_pred - y
        self._cache = diff
        return _mean(diff * diff, y)

    def backward(self) -> Array:
        diff = self.cached(self._cache)
        self._cache = None
        return 2 * diff / diff.size  # dL/dy_pred = 2 (y_pred - y) / n


def _weighted(terms: Array, weights: Labels) -> Array:
    """Σ terms ⊙ weights over the weights' axes, one product (a dot, or a matrix-vector product for a stack)."""
    total: Array = terms.reshape(*terms.shape[:terms.ndim - weights.ndim], -1) @ weights.reshape(-1)
    return total


def _mean(terms: Array, y: Labels) -> Array:
    """The mean of `terms` over y's axes: a 0-d array for terms of y's shape, one mean a probe for a stack."""
    means: Array = terms.reshape(*terms.shape[:terms.ndim - y.ndim], -1).mean(axis=-1)
    return means


BUILT_IN_LOSSES: dict[str, type[Loss]] = {cls.__name__: cls for cls in (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, MSELoss)}
"""The built-in losses by class name: `save` names the one a model was compiled with in its file,
and `saved_loss` rebuilds it (a loss takes no constructor arguments)."""
