"""`Dense`: y = x W + b."""

import math
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from framework.arrays import Array, Shape, float_dtype
from framework.errors import ShapeError
from framework.layer import Config, Layer
from framework.parameter import Parameter
from framework.registry import register_layer

Init: TypeAlias = Literal["he", "glorot", "lecun"]
_VARIANCE = {"he": lambda n_in, n_out: 2 / n_in, "glorot": lambda n_in, n_out: 2 / (n_in + n_out),
             "lecun": lambda n_in, n_out: 1 / n_in}


@register_layer
class Dense(Layer):
    """Fully connected layer, batch first: `x` (batch, in_features) -> `x @ W + b` (batch, out_features).

    `W` has shape (in_features, out_features), drawn from N(0, 2/in_features) for `init="he"`
    (N(0, 2/(in+out)) for "glorot", N(0, 1/in) for "lecun"); `b` starts at zero.

    >>> layer = Dense(3, 2, seed=0)
    >>> layer.forward(np.ones((5, 3))).shape
    (5, 2)
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        seed: int | None = None,
        init: Init = "he",
        dtype: npt.DTypeLike = np.float64,
    ) -> None:
        super().__init__()
        if in_features < 1 or out_features < 1:
            raise ShapeError(f"Dense needs at least one input and one output, got Dense({in_features}, {out_features})")
        if init not in _VARIANCE:
            raise ValueError(f"Dense: unknown init {init!r}, expected one of {sorted(_VARIANCE)}")
        dt = float_dtype(dtype)
        std = math.sqrt(_VARIANCE[init](in_features, out_features))
        W = np.random.default_rng(seed).standard_normal((in_features, out_features)) * std
        self.in_features = in_features
        self.out_features = out_features
        self.init = init
        self.W = Parameter(W.astype(dt), name="W")
        self.b = Parameter(np.zeros(out_features, dtype=dt), name="b")
        self._x: Array | None = None

    def forward(self, x: Array) -> Array:
        self.check_input(x, self.in_features, self.W.value)
        self._x = x
        y = x @ self.W.value
        y += self.b.value
        return y

    def backward_params(self, grad: Array) -> None:
        x = self.cached(self._x)
        self.check_grad(grad, (x.shape[0], self.out_features))
        self._x = None
        np.matmul(x.T, grad, out=self.W.grad)  # dL/dW = xᵀ g
        np.sum(grad, axis=0, out=self.b.grad)  # dL/db = Σ_batch g

    def backward(self, grad: Array) -> Array:
        self.backward_params(grad)
        return grad @ self.W.value.T  # dL/dx = g Wᵀ

    def get_config(self) -> Config:
        return {"in_features": self.in_features, "out_features": self.out_features, "init": self.init,
                "dtype": str(self.W.value.dtype)}

    def output_shape(self, input_shape: Shape) -> Shape:
        if input_shape[-1] != self.in_features:
            raise ShapeError(f"{self!r} expects {self.in_features} features, gets {input_shape[-1]}")
        return (*input_shape[:-1], self.out_features)

    def __repr__(self) -> str:
        return f"Dense({self.in_features} -> {self.out_features})"
