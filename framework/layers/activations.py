"""Activations: element-wise ones (GELU, Swish and Softplus the smooth ones), and `Softmax` along an
axis. Each branches on the real part only, so that complex-step checks work."""

import math
from typing import Literal, TypeAlias, get_args

import numpy as np

from framework.core import complex_parts
from framework.core.complex_parts import SharedReal
from framework.core.arrays import Array, Mask, RealNumber, Shape, WholeNumber
from framework.core.errors import ShapeError, ValueRangeError
from framework.core.validation import whole_number
from framework.core.layer import Config, KeepsShape, Layer
from framework.core.registry import register_layer
from framework.core.special import erfc


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
        self._on = np.greater(x.real, 0, out=self.output("on", x.shape, np.bool_))
        out = self.output("y", x.shape, x.dtype)
        if x.dtype.kind == "c":  # by the real part (np.maximum would compare complex numbers): x · mask is x or 0
            return np.multiply(x, self._on, out=out)  # for a finite x (the checker's probes), 3x faster than np.where
        return np.maximum(x, 0, out=out)  # NaN passes through

    def forward_shared(self, xs: SharedReal) -> SharedReal:
        on = xs.re > 0
        return SharedReal(xs.re * on, np.multiply(xs.im, on, out=xs.im))

    def backward(self, grad: Array) -> Array:
        return np.multiply(grad, self._on, out=grad if self.grad_is_scratch else None)  # dL/dx = g where x > 0, else 0

    def branch(self) -> Mask | None:
        return self._on


def _exp_minus_abs(z: Array) -> tuple[Mask, Array]:
    """Where z < 0, and exp(-|z|) <= 1, which cannot overflow; |z| by the sign of the real part
    (z or -z), so that a complex z stays analytic."""
    negative = z.real < 0
    if z.dtype.kind == "c":  # -|z| = s z, s = 1 where z < 0, else -1; its exp from the parts, 6x numpy's complex exp
        s = negative.astype(z.real.dtype)
        s *= 2
        s -= 1
        return negative, complex_parts.exp(z.real * s, z.imag * s)
    e = np.abs(z)  # np.abs, twice as fast, where it is analytic: on real numbers
    np.negative(e, out=e)
    np.exp(e, out=e)
    return negative, e


def _sigmoid(negative: Mask, e: Array) -> Array:
    """sigmoid(z) from `_exp_minus_abs(z)`, without overflow for any z; overwrites e."""
    top = np.where(negative, e, 1)  # exp(z) / (1 + exp(z)) for z < 0, 1 / (1 + exp(-z)) else
    e += 1
    return np.divide(top, e, out=e)


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
        self._a = a = _sigmoid(*_exp_minus_abs(z))
        return a

    def forward_shared(self, z: SharedReal) -> SharedReal | None:
        if not z.small():
            return None
        negative = z.re < 0  # as forward: e = exp(-|z|) = exp(s z), a = (e where z < 0, else 1) / (1 + e)
        s = np.where(negative, 1.0, -1.0)
        e = complex_parts.exp_shared(complex_parts.SharedReal(z.re * s, np.multiply(z.im, s, out=z.im)))
        top = complex_parts.SharedReal(np.where(negative, e.re, 1), e.im * negative)
        return complex_parts.divide_shared(top, complex_parts.SharedReal(e.re + 1, e.im))

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


_SQRT_HALF = math.sqrt(0.5)
_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)
_CUBIC = 0.044715
"""The cubic term of the tanh form of GELU."""
_TANH_SATURATED = 10.0
"""Beyond |x| = 10 the tanh form's tanh is ±1 to the last bit (its argument is over 43): x is capped
there, so that x³ cannot overflow."""
Approximate: TypeAlias = Literal["none", "tanh"]


def _normal_pdf(x: Array) -> Array:
    """φ(x) = exp(-x²/2) / √(2π) of a real array; |x| capped at 40, where φ has underflowed to 0, so
    that x² cannot overflow."""
    t: Array = np.minimum(np.abs(x), 40.0)
    np.square(t, out=t)
    t *= -0.5
    np.exp(t, out=t)
    t *= _INV_SQRT_2PI
    return t


@register_layer
class GELU(KeepsShape):
    """x Φ(x), Φ the standard normal CDF (PyTorch's `GELU`); `approximate="tanh"` computes PyTorch's
    x (1 + tanh(√(2/π) (x + 0.044715 x³))) / 2 instead.

    Φ(x) = erfc(-x/√2) / 2 (`framework.core.special.erfc`, as numpy has no erf), which keeps the
    negative tail's relative precision where 1 + erf(x/√2) would round it to 0. That erfc is of a
    real argument: a complex input a + ib (the complex-step check's, b about 1e-20) takes
    Φ(a + ib) = Φ(a) + ib φ(a), the first-order Taylor step, whose O(b²) term is 1e-40 of Φ, far below
    rounding: the complex step's derivative is exact (it is not a complex erf for a large b). The
    tanh form is analytic as it is.

    >>> GELU().forward(np.array([[-1.0, 0.0, 1.0]])).round(6)
    array([[-0.158655,  0.      ,  0.841345]])
    >>> GELU(approximate="tanh").forward(np.array([[-1.0, 0.0, 1.0]])).round(6)
    array([[-0.158808,  0.      ,  0.841192]])
    """

    independent_samples = True

    _cache: tuple[Array, Array]
    """The last forward's x and Φ(x) (exact), or its x capped at ±10 and tanh (tanh form)."""

    def __init__(self, approximate: Approximate = "none") -> None:
        super().__init__()
        if approximate not in get_args(Approximate):
            known = ", ".join(map(repr, get_args(Approximate)))
            raise ValueRangeError(f"GELU: approximate={approximate!r} is not one of {known}")
        self.approximate = approximate

    def forward(self, x: Array) -> Array:
        if self.approximate == "tanh":
            v = np.where(np.abs(x.real) > _TANH_SATURATED, np.sign(x.real) * _TANH_SATURATED, x)
            u = v * v
            u *= _CUBIC
            u += 1
            u *= v
            u *= _SQRT_2_OVER_PI
            t = np.tanh(u)  # tanh(√(2/π) (x + 0.044715 x³))
            self._cache = v, t
            y: Array = t + 1
            y *= 0.5
            np.multiply(y, x, out=y)  # after the 0.5: x (1 + t) could overflow where x (1 + t) / 2 does not
            return y
        a = x.real
        cdf = erfc(a * -_SQRT_HALF)
        cdf *= 0.5
        if x.dtype.kind == "c":
            cdf = cdf + 1j * x.imag * _normal_pdf(a)  # Φ(a + ib) = Φ(a) + ib φ(a) + O(b²)
        self._cache = x, cdf
        return x * cdf

    def backward(self, grad: Array) -> Array:
        if self.approximate == "tanh":
            v, t = self._cache
            d = v * v
            d *= 3 * _CUBIC
            d += 1
            d *= _SQRT_2_OVER_PI
            d *= 1 - t * t
            d *= v
            d += 1 + t
            d *= 0.5
            d *= grad
            return d  # dL/dx = g ((1 + t) + x (1 - t²) √(2/π) (1 + 3·0.044715 x²)) / 2
        x, cdf = self._cache
        slope = _normal_pdf(x.real)
        slope *= x.real
        slope += cdf.real
        np.multiply(slope, grad, out=slope)
        return slope  # dL/dx = g (Φ(x) + x φ(x))

    def get_config(self) -> Config:
        return {"approximate": self.approximate}

    def __repr__(self) -> str:
        return "GELU()" if self.approximate == "none" else f"GELU(approximate={self.approximate!r})"


@register_layer
class Swish(KeepsShape):
    """x · sigmoid(x) (Keras' `swish`, PyTorch's `SiLU`), without overflow for any x.

    >>> Swish().forward(np.array([[-1e4, 0.0, 2.0]])).round(6)
    array([[-0.      ,  0.      ,  1.761594]])
    """

    independent_samples = True

    _x: Array
    """The last forward's input."""
    _s: Array
    """Its sigmoid."""

    def forward(self, x: Array) -> Array:
        self._x, self._s = x, _sigmoid(*_exp_minus_abs(x))
        return x * self._s

    def backward(self, grad: Array) -> Array:
        d = 1 - self._s
        np.multiply(d, self._x, out=d)
        d += 1
        np.multiply(d, self._s, out=d)
        np.multiply(d, grad, out=d)
        return d  # dL/dx = g · s (1 + x (1 - s)), s = sigmoid(x)


@register_layer
class SiLU(Swish):
    """PyTorch's name for `Swish`: the same layer, saved and shown as SiLU."""


@register_layer
class Softplus(KeepsShape):
    """log(1 + exp(x)), as max(x, 0) + log(1 + exp(-|x|)) (|x| by the real part's sign), so that exp
    never overflows and a large x keeps its last digits; PyTorch's `Softplus` at beta = 1, without
    its switch to x beyond x = 20 (2e-9 off there).

    >>> Softplus().forward(np.array([[-1e4, 0.0, 1e4]]))
    array([[0.00000000e+00, 6.93147181e-01, 1.00000000e+04]])
    """

    independent_samples = True

    _s: Array
    """The last forward's sigmoid(x), the slope."""

    def forward(self, x: Array) -> Array:
        negative, e = _exp_minus_abs(x)
        y = np.log1p(e)
        np.add(y, x, out=y, where=~negative)
        self._s = _sigmoid(negative, e)
        return y

    def backward(self, grad: Array) -> Array:
        return grad * self._s  # dL/dx = g · sigmoid(x)
