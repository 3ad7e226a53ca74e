"""Preprocessing inside the model: `Normalization` standardises its input with statistics of the
training data that it keeps, and that are saved with the model, so that a saved model takes raw data."""

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from framework.core.arrays import Array, Shape, float_dtype
from framework.core.errors import CallOrderError, ConfigError, DTypeError, NonFiniteError, ShapeError, ValueRangeError
from framework.core.validation import describe_nonfinite, whole_number
from framework.core.guard import guarded
from framework.core.layer import Config, Layer, Module
from framework.core.budget import reserve
from framework.core.parameter import Buffer
from framework.core.registry import register_layer

Statistic = float | Sequence[float]
"""A mean or a variance given to the constructor: one number for every feature, or one per feature."""


@register_layer
class Normalization(Layer):
    """Keras' Normalization: y = (x - mean) / sqrt(max(variance, EPS)), one mean and one variance
    for each index of `axis` (the features), taken over every other axis.

    `adapt(x)` computes them from the training data x; or pass `mean` and `variance` (both). They
    are `Buffer`s, not parameters: saved and loaded with the model, left as they were by the
    gradient checker, never trained. A forward before either is a CallOrderError.

    >>> layer = Normalization()
    >>> layer.adapt(np.array([[1.0, 10.0], [3.0, 10.0], [5.0, 10.0]]))
    >>> layer.mean.value, layer.variance.value
    (array([ 3., 10.]), array([2.66666667, 0.        ]))
    >>> Normalization(mean=[3.0, 10.0], variance=[4.0, 0.25]).forward(np.array([[1.0, 11.0]]))
    array([[-1.,  2.]])
    """

    EPS = 1e-7
    """The least divisor's square (Keras' epsilon): a feature constant in the training data (variance
    0) is divided by sqrt(EPS), so it stays finite, and is 0 on the training data itself."""
    _inv_std: Array
    """1 / sqrt(max(variance, EPS)) of the last forward, shaped to broadcast."""
    independent_samples = True

    def __init__(
        self,
        axis: int = -1,
        mean: Statistic | None = None,
        variance: Statistic | None = None,
        *,
        features: int | None = None,
        dtype: npt.DTypeLike = np.float64,
    ) -> None:
        """`features`: the size of `axis` when known before `adapt` (`load_model` passes it, then
        restores the statistics from the file); the layer still needs `adapt` or a file's statistics."""
        super().__init__()
        axis = whole_number(axis, "Normalization: axis")
        if axis == 0:
            raise ValueRangeError("Normalization: axis 0 is the batch axis: pass the axis of the features (-1, the last)")
        features = None if features is None else whole_number(features, "Normalization: features")
        if features is not None and features < 1:
            raise ConfigError(f"Normalization: features must be a whole number of at least 1, got {features!r}")
        if (mean is None) != (variance is None):
            raise ConfigError("Normalization: pass both mean and variance, or neither and adapt() the layer")
        dt = float_dtype(dtype)
        self.axis = axis
        self.features: int | None = None
        """The size of `axis`; None until adapt, or for statistics given as one number each."""
        self.mean = Buffer(np.zeros(0, dtype=dt), name="mean")
        self.variance = Buffer(np.ones(0, dtype=dt), name="variance", minimum=0.0)
        self.count = Buffer(np.zeros(1, dtype=np.float64), name="count", minimum=0.0)
        """The number of samples adapt() saw; 0 before it."""
        self._given = mean is not None and variance is not None
        """The statistics came from the constructor (and adapt has not replaced them)."""
        if mean is not None and variance is not None:
            self._set(*_given_statistics(mean, variance, features, dt))
        elif features is not None:
            reserve(2 * features, repr(self))
            self._set(np.zeros(features, dtype=dt), np.ones(features, dtype=dt))

    @classmethod
    def example(cls, rng: np.random.Generator) -> tuple[Module, list[Array]]:
        layer = cls(axis=int(rng.choice([1, -1])))
        layer.adapt(rng.normal(3.0, 2.0, (20, 3, 5)))
        return layer, [rng.normal(3.0, 2.0, (4, 3, 5))]

    @property
    def adapted(self) -> bool:
        """Whether the layer has its statistics: from adapt, from the constructor, or from a file."""
        return self._given or bool(self.count.value[0] > 0)

    @guarded
    def adapt(self, x: npt.ArrayLike) -> None:
        """Set mean and variance (biased, as np.var) to those of `x` along every axis but `axis`, in
        one call over the whole of x, accumulated in float64 whatever x's dtype; x is not modified."""
        data = np.asarray(x)
        if data.dtype.kind not in "biuf":
            raise DTypeError(f"{self!r}.adapt expected an array of real numbers, got dtype {data.dtype}")
        if data.ndim < 2 or data.shape[0] == 0:
            raise ShapeError(f"{self!r}.adapt expected a non-empty batch of samples, (samples, features), got shape "
                             f"{data.shape}")
        axis = self._resolved_axis(data.shape)
        if self.features is not None and data.shape[axis] != self.features:
            raise ShapeError(f"{self!r}.adapt expected {self.features} features on axis {self.axis}, got shape "
                             f"{data.shape}")
        problem = describe_nonfinite("x", data)
        if problem:
            raise NonFiniteError(f"{self!r}.adapt: {problem}")
        over = tuple(i for i in range(data.ndim) if i != axis)
        dt = self.mean.value.dtype
        mean: Array = np.mean(data, axis=over, dtype=np.float64, keepdims=True).reshape(-1)
        variance: Array = np.var(data, axis=over, dtype=np.float64, keepdims=True).reshape(-1)
        self._set(mean.astype(dt), variance.astype(dt))
        self.count.value[0] = data.shape[0]
        self._given = False

    def validate_input(self, x: Array) -> None:
        if not self.adapted:
            raise CallOrderError(f"{self!r}: forward() before adapt(): call adapt(x_train) on the training data first, "
                                 "or pass mean= and variance=")
        super().validate_input(x)
        dt = self.mean.value.dtype
        if x.dtype.kind == "f" and x.dtype != dt:
            raise DTypeError(f"{self!r} has {dt} statistics but got a {x.dtype} input: cast the input with "
                             f"x.astype(np.{dt}), or build the layer with dtype=np.{x.dtype}")

    def forward(self, x: Array) -> Array:
        mean, self._inv_std = self._along(x.shape)
        y: Array = x - mean  # a complex step in x passes through unchanged
        np.multiply(y, self._inv_std, out=y)
        return y

    def backward(self, grad: Array) -> Array:
        return grad * self._inv_std  # dL/dx = g / sqrt(max(variance, EPS))

    def moved_input(self, x: Array, out: Array, directions: Array, delta: complex) -> Array:
        return out + delta * (directions * self._along(x.shape)[1])  # (x + δV - mean) s = out + δ V s

    def output_shape(self, input_shape: Shape) -> Shape:
        axis = self._resolved_axis(input_shape)
        if self.features is not None and input_shape[axis] != self.features:
            raise ShapeError(f"{self!r} expected {self.features} features on axis {self.axis}, got input of shape "
                             f"{input_shape}")
        return input_shape

    def get_config(self) -> Config:
        """The statistics themselves only when they were given: adapted ones are buffers, in the file."""
        given = self._given
        return {"axis": self.axis, "mean": self.mean.value.tolist() if given else None,
                "variance": self.variance.value.tolist() if given else None,
                "features": self.features, "dtype": str(self.mean.value.dtype)}

    def _resolved_axis(self, shape: Shape) -> int:
        """`axis` as an index into `shape`, which must have it, and not as its batch axis."""
        if not -len(shape) <= self.axis < len(shape):
            raise ShapeError(f"{self!r} expected an input with an axis {self.axis}, got shape {shape}")
        axis = self.axis % len(shape)
        if axis == 0:
            hint = ": a single sample needs a batch axis, x.reshape(1, -1)" if len(shape) == 1 else ""
            raise ShapeError(f"{self!r}: axis {self.axis} of an input of shape {shape} is its batch axis{hint}")
        return axis

    def _along(self, shape: Shape) -> tuple[Array, Array]:
        """The mean and 1 / sqrt(max(variance, EPS)), shaped to broadcast along `axis` of an input of
        `shape`: (features, 1, ..., 1), or 0-d for statistics given as one number each."""
        along = (-1,) + (1,) * (len(shape) - 1 - self._resolved_axis(shape)) if self.mean.value.ndim else ()
        inv_std: Array = 1 / np.sqrt(np.maximum(self.variance.value, self.EPS))
        return self.mean.value.reshape(along), inv_std.reshape(along)

    def _set(self, mean: Array, variance: Array) -> None:
        self.mean.value, self.variance.value = mean, variance
        self.features = int(mean.shape[0]) if mean.ndim else None

    def __repr__(self) -> str:
        features = "" if self.features is None else f", features={self.features}"
        return f"Normalization(axis={self.axis}{features})"


def _given_statistics(
    mean: Statistic, variance: Statistic, features: int | None, dtype: np.dtype[np.floating[Any]]
) -> tuple[Array, Array]:
    """The constructor's mean and variance as arrays of `dtype`, of one shape: () or (features,)."""
    try:
        m, v = np.broadcast_arrays(np.asarray(mean, dtype=np.float64), np.asarray(variance, dtype=np.float64))
    except (TypeError, ValueError) as e:
        raise ShapeError(f"Normalization: mean and variance must be numbers, or sequences of numbers of one length, "
                         f"got mean={mean!r}, variance={variance!r}") from e
    if m.ndim > 1 or m.size == 0:
        raise ShapeError(f"Normalization: mean and variance must be one number or one per feature, got shape {m.shape}")
    if features is not None and m.ndim and m.shape[0] != features:
        raise ShapeError(f"Normalization: features={features}, but mean and variance have {m.shape[0]} entries")
    for what, a in (("mean", m), ("variance", v)):
        problem = describe_nonfinite(what, a)
        if problem:
            raise NonFiniteError(f"Normalization: {problem}")
    if v.min() < 0:
        raise ValueRangeError(f"Normalization: variance must be at least 0, got {v.min()}")
    if features is not None:
        m, v = np.broadcast_to(m, (features,)), np.broadcast_to(v, (features,))
    return m.astype(dtype), v.astype(dtype)
