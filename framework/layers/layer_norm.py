"""`LayerNorm`: each sample normalised over its own features, the same in training and evaluation."""

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from framework.core.arrays import Array, RealNumber, Shape, WholeNumber, float_dtype
from framework.core.budget import reserve
from framework.core.errors import ConfigError, ShapeError, ValueRangeError
from framework.core.layer import JSON, Config, KeepsShape, Module
from framework.core.parameter import Parameter
from framework.core.registry import register_layer
from framework.core.validation import whole_number


@register_layer
class LayerNorm(KeepsShape):
    """Layer normalisation (Keras' `LayerNormalization`): y = gamma · (x - mean) / sqrt(var + epsilon)
    + beta, with mean and var (biased) of each sample over the axes `axis` (the last by default; a
    list of axes for several, such as [1, 2, 3] for whole images), never over the batch.

    `gamma` (with `scale`) and `beta` (with `center`) have the shape of those axes and are built on
    the first input, at 1 and 0. Unlike `BatchNorm`, nothing depends on the batch or on `training`.

    >>> LayerNorm().forward(np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 6.0]])).round(4)
    array([[-1.2238,  0.    ,  1.2238],
           [-0.7071, -0.7071,  1.4141]])
    """

    independent_samples = True

    _cache: tuple[Array, Array]
    """x_hat and 1 / sqrt(var + epsilon), of the last forward."""

    def __init__(
        self, axis: WholeNumber | Sequence[WholeNumber] = -1, epsilon: RealNumber = 1e-3, center: bool = True,
        scale: bool = True, dtype: npt.DTypeLike = np.float64,
    ) -> None:
        super().__init__()
        axes = [axis] if isinstance(axis, int | np.integer) else list(axis)
        self.axis: int | list[int] = (whole_number(axis, "LayerNorm: axis") if isinstance(axis, int | np.integer)
                                      else [whole_number(a, "LayerNorm: axis") for a in axes])
        if not axes or len(set(axes)) != len(axes):
            raise ValueRangeError(f"LayerNorm: axis must be an axis or distinct axes, got {axis!r}")
        if not (math.isfinite(epsilon) and epsilon > 0):
            raise ValueRangeError(f"LayerNorm: epsilon={epsilon!r} is out of range, expected a finite epsilon > 0")
        for name, flag in (("center", center), ("scale", scale)):
            if not isinstance(flag, bool):
                raise ConfigError(f"LayerNorm: {name} must be True or False, got {flag!r}")
        self.epsilon, self.center, self.scale = float(epsilon), center, scale
        self.dtype = float_dtype(dtype)
        self.gamma = Parameter(np.ones(0, dtype=self.dtype), name="gamma") if scale else None
        self.beta = Parameter(np.zeros(0, dtype=self.dtype), name="beta") if center else None
        self._axes: tuple[int, ...] | None = None
        """The axes normalised over, counted from 0, once built on an input of `_rank` axes."""
        self._rank = 0
        self._broadcast: Shape = ()
        """The shape gamma and beta take against an input: their own on `_axes`, 1 elsewhere."""

    def _resolve(self, input_shape: Shape) -> tuple[int, ...]:
        """The axes `axis` names in an input of `input_shape`, from 0, or a ShapeError naming them."""
        rank = len(input_shape)
        axes = [self.axis] if isinstance(self.axis, int) else self.axis
        if not all(-rank < a < rank and a % rank != 0 for a in axes):
            raise ShapeError(f"{self!r} normalises over axis {self.axis}, which an input of shape {input_shape} lacks "
                             "(axis 0 is the batch)")
        return tuple(sorted(a % rank for a in axes))

    def build(self, input_shape: Shape) -> None:
        if self._axes is not None:
            return
        axes = self._resolve(input_shape)
        sizes = tuple(input_shape[a] for a in axes)
        reserve(2 * math.prod(sizes), repr(self))
        self._axes, self._rank = axes, len(input_shape)
        self._broadcast = tuple(input_shape[d] if d in axes else 1 for d in range(len(input_shape)))
        for tensor, fill in ((self.gamma, 1), (self.beta, 0)):
            if tensor is not None:
                tensor.value = np.full(sizes, fill, dtype=self.dtype)  # a parameter's grad follows

    @classmethod
    def example(cls, rng: np.random.Generator) -> tuple[Module, list[Array]]:
        layer = cls(axis=[1, 2])
        layer.build((3, 4, 2))
        for p in layer.parameters():  # away from 1 and 0, so that a gradient mixed up between them shows
            p.value = rng.normal(1, 0.5, p.value.shape)
        return layer, [rng.standard_normal((3, 4, 2))]

    def output_shape(self, input_shape: Shape) -> Shape:
        if self._axes is not None and (len(input_shape) != self._rank or any(
                input_shape[a] != self._broadcast[a] for a in self._axes)):
            expected = ", ".join(str(self._broadcast[d]) if d in self._axes else "·" for d in range(1, self._rank))
            raise ShapeError(f"{self!r} was built for inputs of shape (batch, {expected}), got {input_shape}")
        if self._axes is None:
            self._resolve(input_shape)
        return input_shape

    def validate_input(self, x: Array) -> None:
        super().validate_input(x)
        sizes = tuple(self._broadcast[a] for a in self._axes or ())
        for p in self.parameters():
            if p.value.shape != sizes:  # gamma or beta replaced by one of another shape
                raise ShapeError(f"{self!r}: {p.name} has shape {p.value.shape}, but the layer was built for "
                                 f"{sizes}: assign it a value of that shape")

    def forward(self, x: Array) -> Array:
        axes = self._axes
        x_hat: Array = x - x.mean(axis=axes, keepdims=True)
        var = np.mean(x_hat * x_hat, axis=axes, keepdims=True)  # squares, not |x|²: a complex step stays exact
        inv_std = 1 / np.sqrt(var + self.epsilon)
        x_hat *= inv_std
        self._cache = x_hat, inv_std
        y = x_hat if self.gamma is None else x_hat * self.gamma.value.reshape(self._broadcast)
        return y if self.beta is None else y + self.beta.value.reshape(self._broadcast)

    def backward(self, grad: Array) -> Array:
        x_hat, inv_std = self._cache
        axes = self._axes
        others = tuple(d for d in range(grad.ndim) if d not in (axes or ()))  # the batch, and axes not normalised
        if self.beta is not None:
            self.beta.grad[...] = grad.sum(axis=others).reshape(self.beta.grad.shape)  # dL/dbeta = Σ g
        g_hat = grad
        if self.gamma is not None:
            self.gamma.grad[...] = (grad * x_hat).sum(axis=others).reshape(self.gamma.grad.shape)  # Σ g x_hat
            g_hat = grad * self.gamma.value.reshape(self._broadcast)
        # dL/dx = (ĝ - mean(ĝ) - x_hat mean(ĝ x_hat)) / sqrt(var + eps), ĝ = g gamma, means over the sample's axes
        dx: Array = g_hat - g_hat.mean(axis=axes, keepdims=True)
        np.subtract(dx, x_hat * np.mean(g_hat * x_hat, axis=axes, keepdims=True), out=dx)
        np.multiply(dx, inv_std, out=dx)
        return dx

    def get_config(self) -> Config:
        axis: JSON = self.axis if isinstance(self.axis, int) else list(self.axis)
        dtype = next((p.value.dtype for p in self.parameters()), self.dtype)
        return {"axis": axis, "epsilon": self.epsilon, "center": self.center, "scale": self.scale,
                "dtype": str(dtype)}

    def __repr__(self) -> str:
        return f"LayerNorm(axis={self.axis}, epsilon={self.epsilon})"
