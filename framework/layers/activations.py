"""Element-wise activations. Each branches on the real part only, so that complex-step checks work."""

import numpy as np

from framework.arrays import Array, Mask
from framework.layer import Layer
from framework.registry import register_layer


@register_layer
class ReLU(Layer):
    """max(x, 0). The derivative at 0 is taken as 0 (the left branch); NaN stays NaN.

    >>> ReLU().forward(np.array([[-1.0, 0.0, 2.0]]))
    array([[0., 0., 2.]])
    """

    def __init__(self) -> None:
        super().__init__()
        self._off: Mask | None = None

    def forward(self, x: Array) -> Array:
        self._off = off = x.real <= 0  # NaN is not <= 0: it passes through, as in np.maximum
        return np.where(off, 0, x)

    def backward(self, grad: Array) -> Array:
        off = self.cached(self._off)
        self.check_grad(grad, off.shape)
        self._off = None
        return np.where(off, 0, grad)  # dL/dx = g where x > 0, else 0

    def branch(self) -> Mask | None:
        return self._off


@register_layer
class Sigmoid(Layer):
    """1 / (1 + exp(-z)), computed without overflow for any z (float32 and float64).

    >>> Sigmoid().forward(np.array([[-1e4, 0.0, 1e4]]))
    array([[0. , 0.5, 1. ]])
    """

    def __init__(self) -> None:
        super().__init__()
        self._a: Array | None = None

    def forward(self, z: Array) -> Array:
        negative = z.real < 0
        e = np.negative(z)
        np.copyto(e, z, where=negative)
        np.exp(e, out=e)  # e = exp(-|z|) <= 1: no overflow
        a = e + 1
        np.reciprocal(a, out=a)  # 1 / (1 + exp(-|z|)) = sigmoid(|z|)
        np.multiply(a, e, out=a, where=negative)  # sigmoid(z) = exp(z) / (1 + exp(z)) for z < 0
        self._a = a
        return a

    def backward(self, grad: Array) -> Array:
        a = self.cached(self._a)
        self.check_grad(grad, a.shape)
        self._a = None
        d = 1 - a
        np.multiply(d, a, out=d)
        np.multiply(d, grad, out=d)
        return d  # dL/dz = dL/da · a(1 - a), on the activation a, not on z
