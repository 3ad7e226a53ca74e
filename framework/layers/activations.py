"""Activations: element-wise ones, and `Softmax` along an axis. Each branches on the real part only,
so that complex-step checks work."""

import math

import numpy as np

from framework.core.arrays import Array, Mask, RealNumber, Shape, WholeNumber
from framework.core.errors import ShapeError, ValueRangeError
from framework.core.validation import whole_number
from framework.core.layer import Config, KeepsShape, Layer
from framework.core.registry import register_layer


@register_layer
class ReLU(KeepsShape):
    """max(x, 0). The derivative at 0 is taken as 0 (the left branch); NaN stays NaN.

    >>> ReLU().forward(np.array([[-1.0, 0.0, 2.0]]))
    array([[0., 0., 2.]])
    """

    independent_samples = True

    _on: Mask
    """Where x > 0 in the last forward."""

    def forward(self, x: Array) -> Array:
        self._on = x.real > 0
        if x.dtype.kind == "c":  # decide on the real part; np.maximum would compare complex numbers
            return np.where(self._on, x, 0)
        return np.maximum(x, 0)  # NaN passes through

    def backward(self, grad: Array) -> Array:
        return np.multiply(grad, self._on)  # dL/dx = g where x > 0, else 0

    def branch(self) -> Mask | None:
        return self._on


@register_layer
class Sigmoid(KeepsShape):
    """1 / (1 + exp(-z)), computed without overflow for any z (float32 and float64).

    >>> Sigmoid().forward(np.array([[-1e4, 0.0, 1e4]]))
    array([[0. , 0.5, 1. ]])
    """

    independent_samples = True

    _a: Array
    """The last forward's output, sigmoid(z)."""

    def forward(self, z: Array) -> Array:
        negative = z.real < 0
        e = np.negative(z)
        np.copyto(e, z, where=negative)
        np.exp(e, out=e)  # e = exp(-|z|) <= 1: no overflow
        a = e + 1
        np.reciprocal(a, out=a)  # 1 / (1 + exp(-|z|)) = sigmoid(|z|)
        np.multiply(e, a, out=e)  # exp(z) / (1 + exp(z)) = sigmoid(z) for z < 0
        a = np.where(negative, e, a)  # a masked multiply is several times slower
        self._a = a
        return a

    def backward(self, grad: Array) -> Array:
        a = self._a
        d = 1 - a
        np.multiply(d, a, out=d)
        np.multiply(d, grad, out=d)
        return d  # dL/dz = dL/da · a(1 - a), on the activation a, not on z


@register_layer
class Tanh(KeepsShape):
    """tanh(x), saturating to ±1 without overflow.

    >>> Tanh().forward(np.array([[-1e4, 0.0, 1e4]]))
    array([[-1.,  0.,  1.]])
    """

    independent_samples = True

    _y: Array
    """The last forward's output, tanh(x)."""

    def forward(self, x: Array) -> Array:
        self._y = y = np.tanh(x)
        return y

    def backward(self, grad: Array) -> Array:
        d = np.square(self._y)
        np.subtract(1, d, out=d)
        np.multiply(d, grad, out=d)
        return d  # dL/dx = dL/dy · (1 - y²), on the output y


def _check_alpha(layer: Layer, alpha: RealNumber) -> float:
    if not (math.isfinite(alpha) and alpha >= 0):
        raise ValueRangeError(f"{type(layer).__name__}: alpha={alpha!r} is out of range, expected a finite alpha >= 0")
    return float(alpha)


@register_layer
class LeakyReLU(KeepsShape):
    """x for x > 0, alpha·x otherwise (the derivative at 0 is alpha, the left branch, as for ReLU).

    >>> LeakyReLU(alpha=0.1).forward(np.array([[-2.0, 0.0, 3.0]]))
    array([[-0.2,  0. ,  3. ]])
    """

    independent_samples = True

    _negative: Mask
    """Where x <= 0 in the last forward."""

    def __init__(self, alpha: RealNumber = 0.01) -> None:
        super().__init__()
        self.alpha = _check_alpha(self, alpha)

    def forward(self, x: Array) -> Array:
        self._negative = negative = x.real <= 0
        y = x.copy()
        np.multiply(y, self.alpha, out=y, where=negative)
        return y

    def backward(self, grad: Array) -> Array:
        dx = grad.copy()
        np.multiply(dx, self.alpha, out=dx, where=self._negative)
        return dx  # dL/dx = g where x > 0, alpha·g elsewhere

    def branch(self) -> Mask | None:
        return self._negative

    def get_config(self) -> Config:
        return {"alpha": self.alpha}

    def __repr__(self) -> str:
        return f"LeakyReLU(alpha={self.alpha})"


@register_layer
class ELU(KeepsShape):
    """x for x > 0, alpha·(exp(x) - 1) otherwise; exp only ever sees x <= 0, so it cannot overflow.

    >>> ELU().forward(np.array([[-1e4, 0.0, 1e4]]))
    array([[-1.e+00,  0.e+00,  1.e+04]])
    """

    independent_samples = True

    _negative: Mask
    """Where x <= 0 in the last forward."""
    _y: Array
    """The last forward's output."""

    def __init__(self, alpha: RealNumber = 1.0) -> None:
        super().__init__()
        self.alpha = _check_alpha(self, alpha)

    def forward(self, x: Array) -> Array:
        self._negative = negative = x.real <= 0
        y = np.where(negative, x, 0)
        np.expm1(y, out=y)
        y *= self.alpha
        np.copyto(y, x, where=~negative)
        self._y = y
        return y

    def backward(self, grad: Array) -> Array:
        d = self._y + self.alpha
        np.multiply(d, grad, out=d)
        return np.where(self._negative, d, grad)  # dL/dx = g·alpha·exp(x) = g·(y + alpha) where x <= 0, g elsewhere

    def branch(self) -> Mask | None:
        return self._negative

    def get_config(self) -> Config:
        return {"alpha": self.alpha}

    def __repr__(self) -> str:
        return f"ELU(alpha={self.alpha})"


@register_layer
class Softmax(Layer):
    """exp(x) / Σ exp(x) along `axis` (the last by default), shifted by the maximum so that exp
    never overflows. The shift is a real constant, so a complex-step input stays exact.

    >>> Softmax().forward(np.array([[0.0, np.log(3.0)], [-1e4, 1e4]]))
    array([[0.25, 0.75],
           [0.  , 1.  ]])
    """

    independent_samples = True

    _s: Array
    """The last forward's output, softmax(x)."""

    def __init__(self, axis: WholeNumber = -1) -> None:
        super().__init__()
        self.axis = whole_number(axis, "Softmax: axis")

    def forward(self, x: Array) -> Array:
        s: Array = x - x.real.max(axis=self.axis, keepdims=True)
        np.exp(s, out=s)
        s /= s.sum(axis=self.axis, keepdims=True)
        self._s = s
        return s

    def backward(self, grad: Array) -> Array:
        s = self._s
        dx: Array = grad - np.sum(grad * s, axis=self.axis, keepdims=True)
        np.multiply(dx, s, out=dx)
        return dx  # dL/dx = s ⊙ (g - Σ_axis g ⊙ s)

    def output_shape(self, input_shape: Shape) -> Shape:
        if not -len(input_shape) <= self.axis < len(input_shape):
            raise ShapeError(f"{self!r} expected an input with an axis {self.axis}, got shape {input_shape}")
        return input_shape

    def get_config(self) -> Config:
        return {"axis": self.axis}

    def __repr__(self) -> str:
        return f"Softmax(axis={self.axis})"
