"""`Embedding`: integer indices -> rows of a trained matrix (token ids -> vectors)."""

import numpy as np
import numpy.typing as npt

from typing import cast

from framework.core.arrays import Array, Indices, Shape, WholeNumber, float_dtype
from framework.core.budget import reserve
from framework.core.errors import DTypeError, ShapeError, ValueRangeError
from framework.core.layer import Config, Layer, Module
from framework.core.parameter import Parameter
from framework.core.registry import register_layer
from framework.core.validation import whole_number


@register_layer
class Embedding(Layer):
    """Keras' `Embedding(input_dim, output_dim)`: integer indices x of any shape (batch, seq) in
    [0, input_dim) -> `W[x]`, of shape (batch, seq, output_dim). `W` (input_dim, output_dim) starts
    uniform in [-0.05, 0.05], Keras' default.

    The indices are not differentiable: backward sets dL/dW and returns zeros of x's shape (nothing
    flows into the indices), and the gradient checker checks W only, saying so. An input of another
    dtype than an integer one, or an index outside [0, input_dim), is refused, naming it.

    >>> layer = Embedding(10, 3, seed=0)
    >>> layer.forward(np.array([[1, 2, 2], [0, 9, 4]])).shape
    (2, 3, 3)
    """

    independent_samples = True

    takes_indices = True
    W: Parameter
    _x: Indices
    """The last forward's indices."""

    def __init__(self, input_dim: WholeNumber, output_dim: WholeNumber, *, seed: WholeNumber | None = None,
                 dtype: npt.DTypeLike = np.float64) -> None:
        super().__init__()
        self.input_dim = whole_number(input_dim, "Embedding: input_dim")
        self.output_dim = whole_number(output_dim, "Embedding: output_dim")
        if self.input_dim < 1 or self.output_dim < 1:
            raise ValueRangeError(f"Embedding needs input_dim and output_dim of at least 1, got "
                                  f"Embedding({input_dim}, {output_dim})")
        self.seed = None if seed is None else whole_number(seed, "Embedding: seed")
        reserve(self.input_dim * self.output_dim, repr(self))
        W = np.random.default_rng(self.seed).uniform(-0.05, 0.05, (self.input_dim, self.output_dim))
        self.W = Parameter(W.astype(float_dtype(dtype)), name="W")

    @classmethod
    def example(cls, rng: np.random.Generator) -> tuple[Module, list[Array]]:
        return cls(6, 3, seed=0), [rng.integers(0, 6, (4, 5))]  # type: ignore[list-item]

    def check_input(self, x: Array | Indices) -> None:
        super().check_input(cast(Array, x))  # the dtype and shape, once per shape: validate_input below
        self._check_range(x)  # the values, at every call: each batch holds other indices

    def validate_input(self, x: Array | Indices) -> None:
        if x.dtype.kind not in "iu":
            whole = x.dtype.kind == "f" and x.size and bool(np.all(np.isfinite(x) & (x == np.round(x))))
            hint = ": they are whole numbers, so pass x.astype(np.int64)" if whole else ""
            raise DTypeError(f"{self!r} expected integer indices, got {x.dtype}{hint}")
        if x.ndim == 0 or x.size == 0:
            raise ShapeError(f"{self!r} expected a non-empty batch of indices (the first axis is the batch), "
                             f"got shape {x.shape}")
        if self.W.value.shape != (self.input_dim, self.output_dim):  # W replaced by one of another shape
            raise ShapeError(f"{self!r}: W has shape {self.W.value.shape}, but the layer was built as "
                             f"({self.input_dim}, {self.output_dim}): assign W a value of that shape")

    def _check_range(self, x: Array | Indices) -> None:
        if x.min() >= 0 and x.max() < self.input_dim:  # two reductions, no mask, for a batch in range
            return
        outside = (x < 0) | (x >= self.input_dim)
        where = tuple(int(i) for i in np.argwhere(outside)[0])
        raise ValueRangeError(
            f"{self!r}: index {int(x[where])} at {where} is out of range: indices go from 0 to "
            f"{self.input_dim - 1} (input_dim={self.input_dim}); {int(np.count_nonzero(outside))} of the {x.size} "
            "are outside"
        )

    def forward(self, x: Array | Indices) -> Array:
        self._x = cast(Indices, x)  # integers: check_input made sure
        out: Array = np.take(self.W.value, self._x, axis=0)
        return out

    def backward_params(self, grad: Array) -> None:
        self.W.grad.fill(0)
        np.add.at(self.W.grad, self._x.reshape(-1), grad.reshape(-1, self.output_dim))  # dL/dW[k] = Σ_{x = k} g

    def backward(self, grad: Array) -> Array:
        self.backward_params(grad)
        return np.zeros(self._x.shape, dtype=grad.dtype)  # the indices have no derivative

    def output_shape(self, input_shape: Shape) -> Shape:
        return (*input_shape, self.output_dim)

    def get_config(self) -> Config:
        return {"input_dim": self.input_dim, "output_dim": self.output_dim, "seed": self.seed,
                "dtype": str(self.W.value.dtype)}

    def __repr__(self) -> str:
        return f"Embedding({self.input_dim} -> {self.output_dim})"
