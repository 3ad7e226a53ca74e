"""Pooling over channels-last images (batch, H, W, C): `MaxPool2D`, `AvgPool2D`, `GlobalMaxPool2D`,
`GlobalAvgPool2D`, with Keras' arguments and its "valid" and "same" padding.

A window's pool is built from one strided slice of the (padded) input a window position, `pool_size`
slices in all: no windowed copy of the input, and the same slices scatter the gradient back. The max
is chosen by the real part, so that a complex-step probe sees the branch the real input takes, and
`branch()` reports the choice (after a ReLU, windows of tied zeros would otherwise make central
differences blame a correct max-pool).
"""

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

from framework.core.arrays import Array, Mask, Shape
from framework.core.layer import JSON, Config, Layer, Module
from framework.core.registry import register_layer
from framework.layers import images
from framework.layers.images import Padding, Pair, image_shape, pair

class _Pool2D(Layer):
    """A window of `pool_size` moved by `strides` (the pool size by default) over H and W."""

    independent_samples = True

    def __init__(self, pool_size: Pair = 2, strides: Pair | None = None, padding: Padding = "valid") -> None:
        super().__init__()
        name = type(self).__name__
        self.pool_size = pair(name, "pool_size", pool_size)
        self.strides = pair(name, "strides", pool_size if strides is None else strides)
        self.padding = images.padding(name, padding)

    @classmethod
    def example(cls, rng: np.random.Generator) -> tuple[Module, list[Array]]:
        return cls(pool_size=2, strides=1), [rng.standard_normal((2, 4, 5, 3))]

    def geometry(self, shape: Shape) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
        """(out_h, out_w), (pad_top, pad_bottom), (pad_left, pad_right) for an input of `shape`."""
        image_shape(self, shape)
        out, (rows, columns) = images.window_geometry(self, shape, self.pool_size, self.strides, self.padding, "pool")
        return out, rows, columns

    def output_shape(self, input_shape: Shape) -> Shape:
        (oh, ow), _, _ = self.geometry(input_shape)
        return (input_shape[0], oh, ow, input_shape[3])

    def windows(self, padded: Array, out: tuple[int, int]) -> Iterator[tuple[int, Array]]:
        """(k, the view of `padded` that holds entry k of every window), k = 0 .. ph·pw - 1."""
        (ph, pw), (sh, sw), (oh, ow) = self.pool_size, self.strides, out
        for i in range(ph):
            for j in range(pw):
                yield i * pw + j, padded[:, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw, :]

    def padded(self, x: Array, pads: tuple[tuple[int, int], tuple[int, int]], fill: float) -> Array:
        if not any(pads[0] + pads[1]):
            return x
        return np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)), constant_values=fill)

    @staticmethod
    def unpadded(dx: Array, pads: tuple[tuple[int, int], tuple[int, int]]) -> Array:
        """The gradient of the padded input cut back to the input: what `padded` added, removed."""
        (top, bottom), (left, right) = pads
        if not (top or bottom or left or right):
            return dx  # not a view: the layer below may write its own gradient into it (`grad_is_scratch`)
        return dx[:, top:dx.shape[1] - bottom, left:dx.shape[2] - right, :]

    def get_config(self) -> Config:
        def plain(p: tuple[int, int]) -> JSON:
            return p[0] if p[0] == p[1] else [p[0], p[1]]

        return {"pool_size": plain(self.pool_size), "strides": plain(self.strides), "padding": self.padding}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(pool_size={self.pool_size}, strides={self.strides}, padding={self.padding!r})"


@register_layer
class MaxPool2D(_Pool2D):
    """The largest entry of each window, by the real part; padding ("same") never wins.

    >>> x = np.arange(16.0).reshape(1, 4, 4, 1)
    >>> MaxPool2D(2).forward(x)[0, :, :, 0]
    array([[ 5.,  7.],
           [13., 15.]])
    """

    _wins: list[Mask]
    """Entry k's (k = 1 .. ph·pw - 1) win over the largest of entries 0 .. k - 1, by the real part,
    for every window: the last win of a window is its choice (ties keep the first entry, as argmax)."""
    _geometry: tuple[Shape, Shape, tuple[tuple[int, int], tuple[int, int]]]
    """The padded input's shape, the output's and the padding."""

    def forward(self, x: Array) -> Array:
        out, *pads = self.geometry(x.shape)
        padded = self.padded(x, (pads[0], pads[1]), -np.inf)
        views = [view for _, view in self.windows(padded, out)]
        best, self._wins = self.workspace("y", views[0].shape, x.dtype)[0], []
        np.copyto(best, views[0])
        for k, view in enumerate(views[1:], 1):  # a running max over the window's entries, one strided slice each
            win = np.greater(view.real, best.real, out=self.output(f"win {k}", best.shape, np.bool_))
            if best.dtype.kind == "c":  # decide on the real part; np.maximum would compare complex numbers
                np.copyto(best, view, where=win)
            else:
                np.maximum(best, view, out=best)
            self._wins.append(win)
        self._geometry = padded.shape, best.shape, (pads[0], pads[1])
        return best

    def chosen(self) -> Iterator[Mask]:
        """For k = ph·pw - 1 down to 0: where entry k is its window's choice (a win that no later entry beat)."""
        later = np.zeros(self._geometry[1], dtype=bool)
        for win in reversed(self._wins):
            yield np.greater(win, later)  # win and not later
            np.logical_or(later, win, out=later)
        yield np.logical_not(later)

    def backward(self, grad: Array) -> Array:
        shape, pooled, pads = self._geometry
        disjoint = self.strides[0] >= self.pool_size[0] and self.strides[1] >= self.pool_size[1]
        dx, fresh = self.workspace("dx", shape, grad.dtype)
        if not (fresh or disjoint):  # disjoint windows write their entries, and leave those of none at 0
            dx.fill(0)
        for (_, view), mask in zip(reversed(list(self.windows(dx, (pooled[1], pooled[2])))), self.chosen(), strict=True):
            if disjoint:  # dL/dx = g at each window's largest entry, summed over the windows x is in
                np.multiply(grad, mask, out=view)
            else:
                np.add(view, grad * mask, out=view)
        return self.unpadded(dx, pads)

    def branch(self) -> Mask | None:
        return np.stack(list(self.chosen())[::-1], axis=-1)


@register_layer
class AvgPool2D(_Pool2D):
    """The mean of each window; with "same" padding, of its entries inside the image (as Keras).

    >>> x = np.arange(16.0).reshape(1, 4, 4, 1)
    >>> AvgPool2D(2).forward(x)[0, :, :, 0]
    array([[ 2.5,  4.5],
           [10.5, 12.5]])
    """

    _geometry: tuple[Shape, tuple[int, int], tuple[tuple[int, int], tuple[int, int]], Array]

    def forward(self, x: Array) -> Array:
        out, *pads = self.geometry(x.shape)
        padded = self.padded(x, (pads[0], pads[1]), 0.0)
        inside = self.padded(np.ones((1, *x.shape[1:3], 1)), (pads[0], pads[1]), 0.0)
        counts = np.zeros((1, *out, 1))
        total = np.zeros((x.shape[0], *out, x.shape[3]), dtype=x.dtype)
        for (_, view), (_, within) in zip(self.windows(padded, out), self.windows(inside, out), strict=True):
            np.add(total, view, out=total)
            np.add(counts, within, out=counts)
        np.divide(total, counts, out=total)
        self._geometry = padded.shape, out, (pads[0], pads[1]), counts.astype(x.real.dtype)
        return total

    def backward(self, grad: Array) -> Array:
        shape, out, pads, counts = self._geometry
        share = grad / counts  # dL/dx = g / (entries of the window), for each window x is in
        dx = np.zeros(shape, dtype=grad.dtype)
        for _, view in self.windows(dx, out):
            np.add(view, share, out=view)
        return self.unpadded(dx, pads)


class _GlobalPool2D(Layer):
    """A pool over the whole image: (batch, H, W, C) -> (batch, C)."""

    independent_samples = True

    @classmethod
    def example(cls, rng: np.random.Generator) -> tuple[Module, list[Array]]:
        return cls(), [rng.standard_normal((2, 3, 4, 5))]

    def output_shape(self, input_shape: Shape) -> Shape:
        b, _, _, c = image_shape(self, input_shape)
        return (b, c)


@register_layer
class GlobalAvgPool2D(_GlobalPool2D):
    """The mean over H and W of each channel.

    >>> GlobalAvgPool2D().forward(np.arange(8.0).reshape(1, 2, 2, 2))
    array([[3., 4.]])
    """

    _shape: Shape

    def forward(self, x: Array) -> Array:
        self._shape = x.shape
        out: Array = x.mean(axis=(1, 2))
        return out

    def backward(self, grad: Array) -> Array:
        _, h, w, _ = self._shape  # dL/dx = g / (H W) at every position
        return np.repeat(np.repeat((grad / (h * w))[:, None, None, :], h, axis=1), w, axis=2)


@register_layer
class GlobalMaxPool2D(_GlobalPool2D):
    """The largest entry over H and W of each channel, by the real part.

    >>> GlobalMaxPool2D().forward(np.arange(8.0).reshape(1, 2, 2, 2))
    array([[6., 7.]])
    """

    _choice: npt.NDArray[np.intp]
    """The flat position (over H W) of each channel's largest entry."""
    _shape: Shape

    def forward(self, x: Array) -> Array:
        flat = x.reshape(x.shape[0], -1, x.shape[3])
        self._choice, self._shape = np.argmax(flat.real, axis=1), x.shape
        out: Array = np.take_along_axis(flat, self._choice[:, None, :], axis=1)[:, 0, :]
        return out

    def backward(self, grad: Array) -> Array:
        b, h, w, c = self._shape
        dx = np.zeros((b, h * w, c), dtype=grad.dtype)
        np.put_along_axis(dx, self._choice[:, None, :], grad[:, None, :], axis=1)  # dL/dx = g at the largest entry
        return dx.reshape(self._shape)

    def branch(self) -> Mask | None:
        b, h, w, c = self._shape
        return np.asarray(self._choice[:, None, :] == np.arange(h * w)[None, :, None])
