"""Losses: `forward(y_pred, y_true)` gives the mean cost, `backward()` gives dL/dy_pred."""

from typing import TypeVar

import numpy as np

from framework.arrays import Array, Mask, Scalar
from framework.errors import CallOrderError, DTypeError, ValueRangeError, NonFiniteError, ShapeError, describe_nonfinite

T = TypeVar("T")


class Loss:
    """Base class of losses. Like a layer, a loss keeps what its backward needs."""

    def forward(self, y_pred: Array, y_true: Array) -> Scalar:
        raise NotImplementedError(f"{type(self).__name__} must implement forward(y_pred, y_true)")

    def backward(self) -> Array:
        raise NotImplementedError(f"{type(self).__name__} must implement backward()")

    def branch(self) -> Mask | None:
        """The discrete choices of the last forward (clipping), for the gradient checker; None if smooth."""
        return None

    def check_pair(self, y_pred: Array, y_true: Array) -> Array:
        """O(1) checks of shapes and dtypes; returns y_true as a float array like y_pred."""
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
        return y_true if y_true.dtype == y_pred.real.dtype else y_true.astype(y_pred.real.dtype)

    def cached(self, value: T | None) -> T:
        if value is None:
            raise CallOrderError(f"{self!r}: backward() called without a forward() before it")
        return value

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
        self._cache: tuple[Array, Array, Mask] | None = None

    def forward(self, y_pred: Array, y_true: Array) -> Scalar:
        y = self.check_pair(y_pred, y_true)
        lo, hi = y.min(), y.max()
        if not (lo >= 0 and hi <= 1):
            raise ValueRangeError(f"{self!r}: labels must lie in [0, 1], got values from {lo} to {hi}")
        lo, hi = y_pred.real.min(), y_pred.real.max()
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise NonFiniteError(
                f"{self!r}: {describe_nonfinite('y_pred', y_pred)}: the model's output is not finite; check the "
                "input for NaN/inf, or lower the learning rate if training diverged"
            )
        if not (lo >= 0 and hi <= 1):
            raise ValueRangeError(
                f"{self!r}: y_pred must be probabilities in [0, 1], got values from {lo} to {hi}: "
                "did you pass logits? end the model with Sigmoid()"
            )
        eps = np.finfo(y_pred.real.dtype).eps
        low, high = y_pred.real < eps, y_pred.real > 1 - eps
        a = np.where(low, eps, y_pred)
        np.copyto(a, 1 - eps, where=high)
        cost = -np.mean(y * np.log(a) + (1 - y) * np.log1p(-a))
        self._cache = a, y, low | high
        return complex(cost) if np.iscomplexobj(cost) else float(cost)

    def backward(self) -> Array:
        a, y, clipped = self.cached(self._cache)
        self._cache = None
        grad = a - y
        grad /= a * (1 - a) * a.size  # dL/da = (a - y) / (a(1 - a)) / n
        np.copyto(grad, 0, where=clipped)
        return grad

    def branch(self) -> Mask | None:
        return None if self._cache is None else self._cache[2]
