"""`Conv2D`: a 2-D convolution of channels-last images, by im2col and one matrix product."""

import math
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from framework.core.arrays import Array, Indices, Shape, WholeNumber, float_dtype
from framework.core.budget import reserve
from framework.core.errors import ShapeError, ValueRangeError
from framework.core.layer import Config, Layer, Module, stacked
from framework.core.parameter import Parameter
from framework.core.registry import register_layer
from framework.core.validation import whole_number
from framework.layers import images
from framework.layers.images import Padding, Pair, pair

Init: TypeAlias = Literal["he", "glorot", "lecun"]
_VARIANCE = {"he": lambda n_in, n_out: 2 / n_in, "glorot": lambda n_in, n_out: 2 / (n_in + n_out),
             "lecun": lambda n_in, n_out: 1 / n_in}


def _taps(offset: int, stride: int, out: int, size: int) -> tuple[slice, slice]:
    """The output positions o whose window reads input row o·stride + offset inside the image
    (0 <= it < size; the padding reads zeros), and those input rows: (outputs, inputs), as slices."""
    first = max(0, -(offset // stride))  # the least o with o·stride + offset >= 0
    last = min(out - 1, (size - 1 - offset) // stride)
    if last < first:
        return slice(0, 0), slice(0, 0)
    return slice(first, last + 1), slice(first * stride + offset, last * stride + offset + 1, stride)


@register_layer
class Conv2D(Layer):
    """2-D convolution (cross-correlation, as Keras) of channels-last images: `x` (batch, H, W, C_in)
    -> (batch, H_out, W_out, filters), `y[n, i, j, f] = Σ_{a,b,c} x_pad[n, i·sh + a, j·sw + b, c] W[a, b, c, f] + b[f]`.

    `kernel_size` and `strides` are an int or a pair (rows, columns); `padding` is "valid" (none) or
    "same" (H_out = ceil(H / sh), zeros around, the odd row or column at the bottom or right). The
    weights are built on the first input: `W` (kh, kw, C_in, filters) drawn from N(0, 2/(kh·kw·C_in))
    for `init="he"` (fan-out kh·kw·filters for "glorot"), `b` (filters,) at zero.

    >>> conv = Conv2D(4, 3, padding="same", seed=0)
    >>> conv.forward(np.ones((2, 5, 6, 3))).shape, conv.W.shape
    ((2, 5, 6, 4), (3, 3, 3, 4))
    >>> Conv2D(4, (3, 2), strides=2).forward(np.ones((2, 7, 7, 1))).shape
    (2, 3, 3, 4)
    """

    W: Parameter
    b: Parameter
    _patches: Array
    """The last forward's im2col matrix and a column of ones: (batch·H_out·W_out, kh·kw·C_in + 1), rows
    in (a, b, c) order."""
    _inside: tuple[int, int, int, int] | None = None
    """With padding "same", where the last forward's input sits in its zero-bordered copy (the
    workspace's "padded"): (top, left, H, W)."""
    _x_shape: Shape
    """The shape of the last forward's input."""
    independent_samples = True

    def __init__(
        self,
        filters: WholeNumber,
        kernel_size: Pair,
        *,
        strides: Pair = 1,
        padding: Padding = "valid",
        seed: WholeNumber | None = None,
        init: Init = "he",
        dtype: npt.DTypeLike = np.float64,
    ) -> None:
        super().__init__()
        self.filters = whole_number(filters, "Conv2D: filters")
        if self.filters < 1:
            raise ValueRangeError(f"Conv2D: filters must be at least 1, got {filters!r}")
        self.kernel_size = pair("Conv2D", "kernel_size", kernel_size)
        self.strides = pair("Conv2D", "strides", strides)
        if init not in _VARIANCE:
            raise ValueRangeError(f"Conv2D: unknown init {init!r}, expected one of {sorted(_VARIANCE)}")
        self.padding = images.padding("Conv2D", padding)
        self.init, self.dtype = init, float_dtype(dtype)
        self.seed = None if seed is None else whole_number(seed, "Conv2D: seed")
        self.in_channels: int | None = None

    @classmethod
    def example(cls, rng: np.random.Generator) -> tuple[Module, list[Array]]:
        return cls(3, (3, 2), strides=(2, 1), padding="same", seed=0), [rng.standard_normal((2, 5, 4, 2))]

    # --- shapes and checks -----------------------------------------------------------------------

    def _geometry(self, shape: Shape) -> tuple[tuple[int, int], tuple[int, int]]:
        """(H_out, W_out) and the (top, left) padding for an input of `shape`, or a ShapeError naming the
        layer and the shape (not 4-D, channels first, other channels than built for, too small)."""
        images.image_shape(self, shape, self.in_channels)
        out, (rows, columns) = images.window_geometry(self, shape, self.kernel_size, self.strides, self.padding,
                                                      "kernel")
        return out, (rows[0], columns[0])

    def build(self, input_shape: Shape) -> None:
        if self.in_channels is not None:
            return
        self._geometry(input_shape)
        kh, kw = self.kernel_size
        c = input_shape[-1]
        fan_in, fan_out = kh * kw * c, kh * kw * self.filters
        reserve((fan_in + 1) * self.filters, repr(self))
        std = math.sqrt(_VARIANCE[self.init](fan_in, fan_out))
        W = np.random.default_rng(self.seed).standard_normal((kh, kw, c, self.filters)) * std
        self.in_channels = c
        self.W = Parameter(W.astype(self.dtype), name="W")
        self.b = Parameter(np.zeros(self.filters, dtype=self.dtype), name="b")

    def validate_input(self, x: Array) -> None:
        if self.in_channels is None:  # the first images it is given: they decide the channels
            images.refuse_channels_first(self, x.shape)
        super().validate_input(x)  # a float array; build (a lazy one), then output_shape checks the shape
        expected = (*self.kernel_size, self.in_channels, self.filters)
        if self.W.value.shape != expected:  # W replaced by one of another shape
            raise ShapeError(f"{self!r}: W has shape {self.W.value.shape}, but the layer was built as "
                             f"{expected}: assign W a value of that shape")

    def output_shape(self, input_shape: Shape) -> Shape:
        (oh, ow), _ = self._geometry(input_shape)
        return (input_shape[0], oh, ow, self.filters)

    # --- the math --------------------------------------------------------------------------------

    def _im2col(self, x: Array, geometry: tuple[tuple[int, int], tuple[int, int]], reuse: bool = False,
                ones: bool = False) -> Array:
        """(batch·H_out·W_out, kh·kw·C) patches of `x` padded with zeros, each row in W's (a, b, c) order,
        and with `ones` a last column of ones (the bias's, so that one GEMM adds it). With `reuse`
        (forward's), in a training step or a stack of the checker's probes (`workspace`), the matrix and
        the padded copy of x are the last forward's when they have the shape: their zeros and ones are
        still there, and no fresh pages are touched."""
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        (oh, ow), (top, left) = geometry
        n, h, w, c = x.shape
        source = x
        if self.padding == "same":  # the padding's zeros around x: rows (oh - 1) sh + kh, columns likewise
            shape = (n, max(h + top, (oh - 1) * sh + kh), max(w + left, (ow - 1) * sw + kw), c)
            source, fresh = self.workspace("padded", shape, x.dtype) if reuse else (np.zeros(shape, x.dtype), True)
            if not fresh and self._inside != (top, left, h, w):  # of the same shape, but x sat elsewhere in it
                source.fill(0)
            self._inside = (top, left, h, w)
            source[:, top:top + h, left:left + w] = x
        windows = sliding_window_view(source, (kh, kw), axis=(1, 2))  # (batch, H', W', C, kh, kw), a view
        windows = windows[:, : (oh - 1) * sh + 1 : sh, : (ow - 1) * sw + 1 : sw].transpose(0, 1, 2, 4, 5, 3)
        k = kh * kw * c
        size = (n * oh * ow, k + ones)
        cols, fresh = self.workspace("patches", size, x.dtype) if reuse else (np.zeros(size, x.dtype), True)
        if ones and fresh:  # a reused matrix keeps its column of ones: writing it again touches every row's line
            cols[:, k:] = 1
        np.copyto(cols[:, :k].reshape(windows.shape), windows)  # the one copy
        return cols

    def _linear(self, x: Array) -> Array:
        """The convolution of `x` without the bias, (batch, H_out, W_out, filters)."""
        geometry = self._geometry(x.shape)
        (oh, ow), _ = geometry
        return (self._im2col(x, geometry) @ self.W.value.reshape(-1, self.filters)).reshape(len(x), oh, ow, self.filters)

    def forward(self, x: Array) -> Array:
        geometry = self._geometry(x.shape)
        (oh, ow), _ = geometry
        self._x_shape = x.shape
        self._patches = patches = self._im2col(x, geometry, reuse=True, ones=True)
        weights = np.concatenate([self.W.value.reshape(-1, self.filters), self.b.value[np.newaxis]])
        y: Array = np.matmul(patches, weights, out=self.output("y", (len(patches), self.filters),
                                                               np.result_type(patches, weights)))  # [cols 1] [W; b] = cols W + b
        return y.reshape(len(x), oh, ow, self.filters)

    def backward_params(self, grad: Array) -> None:
        patches, g = self._patches, grad.reshape(-1, self.filters)  # [cols 1]ᵀ g: dL/dW = colsᵀ g, dL/db = 1ᵀ g
        both = (g.T @ patches).T if patches.shape[1] > 128 else patches.T @ g  # OpenBLAS does a wide one 1.3-2x faster so
        self.W.grad[...] = both[:-1].reshape(self.W.grad.shape)
        self.b.grad[...] = both[-1]

    def backward(self, grad: Array) -> Array:
        self.backward_params(grad)
        return self._col2im(grad)

    def _col2im(self, grad: Array) -> Array:
        """dL/dx: the GEMM g W[a, b]ᵀ of each kernel offset, added where its taps were read from."""
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        n, oh, ow, _ = grad.shape
        _, h, w, c = self._x_shape
        _, (top, left) = self._geometry(self._x_shape)
        g = grad.reshape(-1, self.filters)
        dx, fresh = self.workspace("dx", self._x_shape, np.result_type(grad, self.W.value))
        if not fresh:
            dx.fill(0)
        cols = self.workspace("dcols", (n, oh, ow, c), dx.dtype)[0] if self.reuse_workspace else np.empty((n, oh, ow, c), dx.dtype)
        for a in range(kh):  # dL/dcols = g Wᵀ, a kernel offset at a time
            rows = _taps(a - top, sh, oh, h)
            for b in range(kw):
                columns = _taps(b - left, sw, ow, w)
                np.matmul(g, self.W.value[a, b].T, out=cols.reshape(-1, c))
                view = dx[:, rows[1], columns[1]]
                np.add(view, cols[:, rows[0], columns[0]], out=view)
        return dx

    # --- the gradient checker's shortcuts: the output is linear in W, in b and in x --------------

    def perturbed_outputs(self, x: Array, out: Array, param: Parameter, indices: Indices, delta: complex) -> Array:
        moved, k = stacked(out, len(indices), delta), np.arange(len(indices))
        if param is not self.W:
            moved[k, ..., indices] += delta
            return moved
        a, b, c, f = np.unravel_index(indices, self.W.value.shape)
        (sh, sw), (oh, ow) = self.strides, out.shape[1:3]
        top, left = self._geometry(x.shape)[1]
        for offset in set(zip(a.tolist(), b.tolist())):  # y[n, i, j, f] moves by δ x_pad[n, i·sh + a, j·sw + b, c]
            at = np.flatnonzero((a == offset[0]) & (b == offset[1]))
            rows = _taps(offset[0] - top, sh, oh, x.shape[1])
            columns = _taps(offset[1] - left, sw, ow, x.shape[2])
            read = np.moveaxis(x[:, rows[1], columns[1]][..., c[at]], -1, 0)  # (probes, batch, rows, columns)
            moved[k[at], :, rows[0], columns[0], f[at]] += delta * read
        return moved

    def moved_output(self, x: Array, out: Array, param: Parameter, directions: Array, delta: complex) -> Array:
        if param is self.W:  # conv(x, W + δV) = conv(x, W) + δ conv(x, V), every V in one product
            vs = directions.reshape(len(directions), -1, self.filters)
            change = np.moveaxis(np.tensordot(self._im2col(x, self._geometry(x.shape)), vs, axes=(1, 1)), 1, 0).reshape(
                len(directions), *out.shape)
        else:
            change = directions[:, np.newaxis, np.newaxis, np.newaxis, :]
        return out + delta * change

    def perturbed_inputs(self, x: Array, out: Array, indices: Indices, delta: complex) -> Array:
        moved, k = stacked(out, len(indices), delta), np.arange(len(indices))
        n, i, j, c = np.unravel_index(indices, x.shape)
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        (oh, ow), (top, left) = self._geometry(x.shape)
        for a in range(kh):  # x[n, i, j, c] is entry (a, b) of the window at (oi, oj) when oi·sh + a = i + top
            oi, off_i = np.divmod(i + top - a, sh)
            for b in range(kw):
                oj, off_j = np.divmod(j + left - b, sw)
                hit = (off_i == 0) & (off_j == 0) & (oi >= 0) & (oi < oh) & (oj >= 0) & (oj < ow)
                moved[k[hit], n[hit], oi[hit], oj[hit]] += delta * self.W.value[a, b, c[hit]]
        return moved

    def moved_input(self, x: Array, out: Array, directions: Array, delta: complex) -> Array:
        stacked = directions.reshape(-1, *x.shape[1:])  # every direction's batch in one convolution
        return out + delta * self._linear(stacked).reshape(len(directions), *out.shape)

    def get_config(self) -> Config:
        dtype = self.dtype if self.in_channels is None else self.W.value.dtype
        return {"filters": self.filters, "kernel_size": list(self.kernel_size), "strides": list(self.strides),
                "padding": self.padding, "seed": self.seed, "init": self.init, "dtype": str(dtype)}

    def __repr__(self) -> str:
        c = "?" if self.in_channels is None else self.in_channels
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        return f"Conv2D({c} -> {self.filters}, kernel {kh}x{kw}, strides {sh}x{sw}, {self.padding})"
