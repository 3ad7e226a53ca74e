"""`Dense`: y = x W + b."""

import math
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from framework.core.arrays import Array, Indices, Shape, WholeNumber, float_dtype
from framework.core.errors import ShapeError, ValueRangeError
from framework.core.validation import whole_number
from framework.core.layer import Config, Layer, Module, stacked
from framework.core.budget import reserve
from framework.core.complex_parts import SharedReal, Stack, imaginary_step, real_or_none
from framework.core.parameter import Parameter
from framework.core.registry import register_layer
from framework.core.sums import add_to_rows, column_sums

Init: TypeAlias = Literal["he", "glorot", "lecun"]
_VARIANCE = {"he": lambda n_in, n_out: 2 / n_in, "glorot": lambda n_in, n_out: 2 / (n_in + n_out),
             "lecun": lambda n_in, n_out: 1 / n_in}


_FLATTEN = ": images or feature maps? put a Flatten() (or a GlobalAvgPool2D()) before the Dense layer"


@register_layer
class Dense(Layer):
    """Fully connected layer, batch first: `x` (batch, in_features) -> `x @ W + b` (batch, out_features).

    `Dense(in_features, out_features)`, or `Dense(units)` to build the weights on the first input
    (as Keras' `build`). `W` has shape (in_features, out_features), drawn from N(0, 2/in_features)
    for `init="he"` (N(0, 2/(in+out)) for "glorot", N(0, 1/in) for "lecun"); `b` starts at zero.

    >>> layer = Dense(3, 2, seed=0)
    >>> layer.forward(np.ones((5, 3))).shape
    (5, 2)
    >>> lazy = Dense(2)
    >>> lazy.forward(np.ones((5, 7))).shape, lazy.W.shape
    ((5, 2), (7, 2))
    """

    W: Parameter
    b: Parameter
    _x: Array
    """The last forward's input."""
    independent_samples = True

    def __init__(
        self,
        in_features: WholeNumber,
        out_features: WholeNumber | None = None,
        *,
        seed: WholeNumber | None = None,
        init: Init = "he",
        dtype: npt.DTypeLike = np.float64,
    ) -> None:
        super().__init__()
        in_features = whole_number(in_features, "Dense: in_features")
        out_features = None if out_features is None else whole_number(out_features, "Dense: out_features")
        units = in_features if out_features is None else out_features
        if units < 1 or (out_features is not None and in_features < 1):
            raise ShapeError(f"Dense needs at least one input and one output, got Dense({in_features}, {out_features})")
        if init not in _VARIANCE:
            raise ValueRangeError(f"Dense: unknown init {init!r}, expected one of {sorted(_VARIANCE)}")
        self.out_features = units
        self.in_features: int | None = None
        self.init, self.dtype = init, float_dtype(dtype)
        self.seed = None if seed is None else whole_number(seed, "Dense: seed")
        if out_features is not None:
            self.build((1, in_features))

    @classmethod
    def example(cls, rng: np.random.Generator) -> tuple[Module, list[Array]]:
        return cls(5, 3, seed=0), [rng.standard_normal((4, 5))]

    def build(self, input_shape: Shape) -> None:
        if self.in_features is not None:
            return
        if len(input_shape) != 2 or input_shape[1] < 1:
            raise ShapeError(f"{self!r} expected input of shape (batch, features), got {input_shape}"
                             f"{_FLATTEN if len(input_shape) > 2 else ''}")
        n_in = input_shape[-1]
        reserve((n_in + 1) * self.out_features, repr(self))
        std = math.sqrt(_VARIANCE[self.init](n_in, self.out_features))
        W = np.random.default_rng(self.seed).standard_normal((n_in, self.out_features)) * std
        self.in_features = n_in
        self.W = Parameter(W.astype(self.dtype), name="W")
        self.b = Parameter(np.zeros(self.out_features, dtype=self.dtype), name="b")

    def validate_input(self, x: Array) -> None:
        if self.in_features is not None and (x.ndim != 2 or x.shape[1] != self.in_features):  # a lazy one builds
            hint = ""
            if x.ndim == 2 and x.shape[0] == self.in_features:
                hint = ": did you pass features-first data? transpose it"
            elif x.ndim == 1 and x.shape[0] == self.in_features:
                hint = ": a single sample needs a batch axis, x.reshape(1, -1)"
            elif x.ndim > 2:
                hint = _FLATTEN
            raise ShapeError(f"{self!r} expected input of shape (batch, {self.in_features}), got {x.shape}{hint}")
        super().validate_input(x)
        if self.W.value.shape != (self.in_features, self.out_features):  # W replaced by one of another shape
            raise ShapeError(f"{self!r}: W has shape {self.W.value.shape}, but the layer was built as "
                             f"({self.in_features}, {self.out_features}): assign W a value of that shape")

    def forward(self, x: Array) -> Array:
        self._x = x
        y: Array = np.matmul(x, self.W.value, out=self.output("y", (len(x), self.out_features), x.dtype))  # W's, or complex
        add_to_rows(y, self.b.value)
        return y

    def forward_shared(self, xs: SharedReal) -> SharedReal | None:
        W, b = real_or_none(self.W.value), real_or_none(self.b.value)  # the checker's complex copies, not moved
        if W is None or b is None:
            return None
        im = xs.im.reshape(-1, xs.im.shape[-1]) @ W  # (re + i im) W + b = re W + b + i im W, for real W and b
        return SharedReal(xs.re @ W + b, im.reshape(*xs.im.shape[:-1], -1))

    def perturbed_outputs(self, x: Array, out: Array, param: Parameter, indices: Indices, delta: complex) -> Stack:
        real = imaginary_step(delta, x, out)  # the checker's: only the imaginary parts move, by parts
        moved = stacked(out, len(indices), delta) if real is None else np.zeros((len(indices), *out.shape))
        step, x = (delta, x) if real is None else (delta.imag, real[0])
        if param is self.W:
            i, j = np.divmod(indices, self.out_features)
            columns = x.T[i] * step
            for probe, column in enumerate(j.tolist()):  # a column a probe: 1.2x numpy's fancy-indexed add
                moved[probe, :, column] += columns[probe]  # (x W)[:, j] moves by delta · x[:, i]
        else:
            moved[np.arange(len(indices)), :, indices] += step
        return moved if real is None else SharedReal(real[1], moved)

    def moved_output(self, x: Array, out: Array, param: Parameter, directions: Array, delta: complex) -> Stack:
        if param is self.W:  # x (W + δV) + b = x W + b + δ x V, for every V in one product
            change = np.moveaxis(np.tensordot(x, directions, axes=(1, 1)), 1, 0)
        else:
            change = directions[:, np.newaxis, :]
        real = imaginary_step(delta, out, change)
        if real is None:
            return out + delta * change
        return SharedReal(real[0], delta.imag * np.broadcast_to(real[1], (len(directions), *out.shape)))

    def perturbed_inputs(self, x: Array, out: Array, indices: Indices, delta: complex) -> Array:
        moved, k = stacked(out, len(indices), delta), np.arange(len(indices))
        i, j = np.divmod(indices, x.shape[1])
        moved[k, i] += delta * self.W.value[j]  # moving x[i, j] moves row i of x W by δ W[j, :]
        return moved

    def moved_input(self, x: Array, out: Array, directions: Array, delta: complex) -> Array:
        return out + delta * (directions @ self.W.value)  # (x + δV) W + b = x W + b + δ V W

    def backward_params(self, grad: Array) -> None:
        x = self._x
        if self.in_features is not None and self.in_features >= 2048 and self.out_features <= 16:
            np.copyto(self.W.grad, (grad.T @ x).T)  # the same xᵀg: OpenBLAS does a wide, thin one 4x faster so
        else:
            np.matmul(x.T, grad, out=self.W.grad)  # dL/dW = xᵀ g
        column_sums(grad, self.b.grad)  # dL/db = Σ_batch g = 1ᵀg

    def backward(self, grad: Array) -> Array:
        self.backward_params(grad)
        if self.out_features == 1:  # g Wᵀ is an outer product: a broadcast multiply is 3-5x faster than BLAS's
            return grad * self.W.value.T
        return grad @ self.W.value.T  # dL/dx = g Wᵀ

    def get_config(self) -> Config:
        if self.in_features is None:
            return {"in_features": self.out_features, "init": self.init, "dtype": str(self.dtype)}
        return {"in_features": self.in_features, "out_features": self.out_features, "init": self.init,
                "dtype": str(self.W.value.dtype)}  # the weights' own: a model cast after it was built saves as cast

    def output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 2:
            raise ShapeError(f"{self!r} expects input of shape (batch, {self.in_features or 'features'}), gets "
                             f"{input_shape}{_FLATTEN if len(input_shape) > 2 else ''}")
        if self.in_features is not None and input_shape[-1] != self.in_features:
            raise ShapeError(f"{self!r} expects {self.in_features} features, gets {input_shape[-1]}")
        return (input_shape[0], self.out_features)

    def __repr__(self) -> str:
        return f"Dense({'?' if self.in_features is None else self.in_features} -> {self.out_features})"
