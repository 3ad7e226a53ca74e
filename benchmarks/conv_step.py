"""Time one training step of two small convnets: the framework against hand-written numpy and PyTorch.

A step is forward, loss, backward and a plain gradient-descent update `p -= lr * grad` (the
framework's `SGD(lr)`, the labels checked once up front and one floating-point guard for the
step, as `fit` does; see step_time.py). The networks, channels-last (batch, H, W, C):

- digits: X (1797, 8, 8, 1) -> Conv 3x3x16 "same" -> ReLU -> MaxPool 2 -> Conv 3x3x32 "same" -> ReLU
  -> MaxPool 2 -> Flatten -> Dense 10, softmax cross-entropy from the logits (the framework's
  CrossEntropyLoss, class-index labels). scikit-learn's digits when it is installed, else random
  images of the same shape and value range (the time does not depend on the values).
- cat: X (209, 64, 64, 3) random (seeded) -> Conv 3x3x16 "valid" -> ReLU -> MaxPool 2 -> Conv 3x3x32
  "valid" -> ReLU -> MaxPool 2 (29 -> 14: the last row and column are dropped) -> Flatten -> Dense 1
  -> sigmoid, mean BCE (the framework's Sigmoid layer and BCELoss).

Each in float64 and float32, with these contenders, in one process:

- numpy plain: the step written by hand the obvious way, new arrays everywhere: im2col by
  sliding_window_view and one GEMM a convolution, col2im by kh·kw strided slice additions, max-pool
  by a reshape to (..., 4) and argmax (put_along_axis back), ReLU by np.maximum and a mask.
- numpy best: the same math, as fast as good numpy gets by hand, layer by layer (no fusion of two
  layers, no reordering of ReLU and pooling, no bias folded into the GEMM): every buffer allocated
  once and reused (`out=`), the padded input and the im2col matrix filled in place (np.copyto from
  the sliding window view), GEMMs into preallocated outputs, dL/db as a GEMV (1ᵀ g), dL/dcols as one
  GEMM a kernel offset (g W[a, b]ᵀ, each a contiguous block) so that col2im adds contiguous blocks
  into a preallocated gradient, max-pool from its 4 strided slices
  (a tournament of np.maximum that keeps 3 boolean comparisons; backward writes each slice of dL/dx
  once, g times its mask: ties go to the first entry, as the framework's), ReLU in place with its
  mask, the update in place.
- framework: `Sequential([Conv2D, ReLU, MaxPool2D, Conv2D, ReLU, MaxPool2D, Flatten, Dense(, Sigmoid)])`
  and the loss, a step as step_time.py's `FrameworkTrainer` takes it (forward, loss, backward, SGD,
  under one floating-point guard); the first layer computes no dL/dx (nor do the numpy versions).
- torch (CPU, when installed): nn.Conv2d / ReLU / MaxPool2d / Flatten / Linear (/ Sigmoid) and
  nn.CrossEntropyLoss or nn.BCELoss, channels-first (the data transposed once, outside timing), the
  same weights copied in (the Linear's columns permuted from the framework's channels-last flatten
  order to torch's channels-first one); zero_grad, forward, loss, backward, `p -= lr * p.grad` under
  no_grad; as many intra-op threads as numpy's BLAS.

Before timing, each contender's loss and gradients at the same weights must agree with numpy plain's
(np.allclose at tolerances of the dtype), or nothing is timed. Rounds alternate the contenders
(plain, best, framework, torch, ...), a block of about --block seconds each, after a warm-up; a
round during which other processes used more than --max-other-load of the CPUs is redone (at most
2 x rounds). The table gives the median time per step and the medians over the rounds of the
per-round ratios framework / other.

Threads: numpy's BLAS reads its thread count when numpy is imported, so this script sets
OMP_NUM_THREADS, OPENBLAS_NUM_THREADS and MKL_NUM_THREADS to 2 (the first of them already set, if
one is) before it imports numpy; torch gets as many.

--profile times, on the cat workload, each phase of the framework's step and of numpy best's (every
layer's forward and backward, the loss, the update, timed call by call within whole steps; the
rest of a step is Sequential's and the guard's), and the parts of each convolution (im2col, the
GEMMs, bias, dL/dcols with col2im) on cached inputs: where the framework's time goes.

    python benchmarks/conv_step.py               # default: 9 rounds
    python benchmarks/conv_step.py --quick       # smoke run
    python benchmarks/conv_step.py --no-torch --only digits
    python benchmarks/conv_step.py --profile --json out.json
    python benchmarks/conv_step.py --rounds 0 --profile   # the profile alone
"""

from __future__ import annotations

import os

_THREADS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
_threads = next((os.environ[name] for name in _THREADS if name in os.environ), "2")
for _name in _THREADS:  # before numpy is imported: its BLAS reads them then
    os.environ.setdefault(_name, _threads)

import argparse  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import asdict, dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast  # noqa: E402

import numpy as np  # noqa: E402
import numpy.typing as npt  # noqa: E402
from numpy.lib.stride_tricks import sliding_window_view  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import TorchSteps, OtherLoad, describe, environment, load_average, load_torch, markdown_table, write_json  # noqa: E402
from step_time import Contender, FrameworkTrainer, Steps, Timing, time_rounds  # noqa: E402

from framework import (  # noqa: E402
    Array, BCELoss, Conv2D, CrossEntropyLoss, Dense, Flatten, Labels, Layer, Loss, MaxPool2D, ReLU, Sequential,
    Sigmoid,
)
from framework.core.guard import floating_point_errors  # noqa: E402
from framework.core.layer import reusing_workspace  # noqa: E402

if TYPE_CHECKING:
    import torch

LR = 0.01
DTYPES: tuple[type[np.floating[Any]], ...] = (np.float64, np.float32)
Ints = npt.NDArray[np.intp]
Bools = npt.NDArray[np.bool_]


# --- the workloads ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    name: str
    """"digits" or "cat" (what --only takes)."""
    batch: int
    image: tuple[int, int, int]
    """(H, W, C) of an input image."""
    padding: Literal["same", "valid"]
    classes: int
    """10: Dense 10 and softmax cross-entropy on class indices; 1: Dense 1, sigmoid and BCE."""
    filters: tuple[int, int] = (16, 32)
    kernel: int = 3

    @property
    def pad(self) -> int:
        return self.kernel // 2 if self.padding == "same" else 0

    def shapes(self) -> list[tuple[int, int, int, int]]:
        """The (batch, H, W, C) entering conv 1, conv 2 and the flatten."""
        h, w, c = self.image
        out = [(self.batch, h, w, c)]
        for f in self.filters:
            h, w = h + 2 * self.pad - self.kernel + 1, w + 2 * self.pad - self.kernel + 1
            h, w, c = h // 2, w // 2, f
            out.append((self.batch, h, w, c))
        return out

    @property
    def dense_in(self) -> int:
        return math.prod(self.shapes()[-1][1:])

    @property
    def title(self) -> str:
        h, w, c = self.image
        f1, f2 = self.filters
        head = "Dense 10, softmax CE" if self.classes > 1 else "Dense 1, sigmoid BCE"
        return (f"{self.name}: X ({self.batch}, {h}, {w}, {c}) -> Conv 3x3x{f1} {self.padding} -> ReLU -> MaxPool 2 -> "
                f"Conv 3x3x{f2} {self.padding} -> ReLU -> MaxPool 2 -> Flatten ({self.dense_in}) -> {head}")

    def data(self, dtype: type[np.floating[Any]]) -> tuple[Array, Labels, str]:
        """(X, labels, where they come from): labels are class indices (int64) for softmax
        cross-entropy, a (batch, 1) column of 0/1 of X's dtype for BCE."""
        rng = np.random.default_rng(0)
        if self.classes > 1:
            try:
                from sklearn.datasets import load_digits
            except ImportError:
                X = rng.integers(0, 17, (self.batch, *self.image)) / 16.0
                y = rng.integers(0, self.classes, self.batch).astype(np.int64)
                return X.astype(dtype), y, "random images (scikit-learn not installed)"
            digits = load_digits()
            X = np.asarray(digits.images, dtype=np.float64)[..., None] / 16.0
            return X.astype(dtype), np.asarray(digits.target, dtype=np.int64), "scikit-learn's load_digits, / 16"
        X = rng.random((self.batch, *self.image))
        y = rng.integers(0, 2, (self.batch, 1))
        return X.astype(dtype), y.astype(dtype), "random (seed 0), uniform in [0, 1)"

    def build(self, dtype: type[np.floating[Any]]) -> Sequential:
        """The framework's network, built (He initialisation, seeds 0, 1, 2), its biases set to small
        random values (so that the bias paths are checked on values that are not all zero)."""
        f1, f2 = self.filters
        layers: list[Layer] = [
            Conv2D(f1, self.kernel, padding=self.padding, seed=0, dtype=dtype), ReLU(), MaxPool2D(2),
            Conv2D(f2, self.kernel, padding=self.padding, seed=1, dtype=dtype), ReLU(), MaxPool2D(2),
            Flatten(), Dense(self.dense_in, self.classes, seed=2, dtype=dtype),
        ]
        if self.classes == 1:
            layers.append(Sigmoid())
        model = Sequential(layers)
        model.build((np.zeros((1, *self.image), dtype=dtype),))
        rng = np.random.default_rng(3)
        for p in model.parameters():
            if p.value.ndim == 1:
                p.value[...] = 0.05 * rng.standard_normal(p.value.shape)
        return model

    def loss(self) -> Loss:
        return CrossEntropyLoss() if self.classes > 1 else BCELoss()

    def step_gflop(self) -> float:
        """The matrix products of a step: each conv's forward GEMM, its dL/dW and (but for the first)
        its dL/dcols, and the Dense's three (2·m·k·n FLOPs each)."""
        flops = 0
        shapes = self.shapes()
        for i, (f, (n, h, w, c)) in enumerate(zip(self.filters, shapes)):
            oh, ow = h + 2 * self.pad - self.kernel + 1, w + 2 * self.pad - self.kernel + 1
            one = 2 * n * oh * ow * self.kernel**2 * c * f
            flops += one * (3 if i else 2)
        flops += 3 * 2 * self.batch * self.dense_in * self.classes
        return flops / 1e9


WORKLOADS = (
    Workload("digits", 1797, (8, 8, 1), "same", 10),
    Workload("cat", 209, (64, 64, 3), "valid", 1),
)


def initial_weights(model: Sequential) -> list[Array]:
    """The framework's parameters, copied: conv 1 W (3, 3, C, 16), b, conv 2 W, b, Dense W, b."""
    return [p.value.copy() for p in model.parameters()]


# --- numpy plain -------------------------------------------------------------------------------------


def plain_conv_forward(x: Array, W: Array, b: Array, pad: int) -> tuple[Array, Array, tuple[int, ...]]:
    """(y, the im2col matrix, the padded input's shape): im2col by sliding_window_view, one GEMM."""
    if pad:
        x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    kh, kw, c, f = W.shape
    n, h, w, _ = x.shape
    oh, ow = h - kh + 1, w - kw + 1
    cols = sliding_window_view(x, (kh, kw), axis=(1, 2)).transpose(0, 1, 2, 4, 5, 3).reshape(n * oh * ow, -1)
    y = cols @ W.reshape(-1, f) + b
    return y.reshape(n, oh, ow, f), cols, x.shape


def plain_conv_backward(
    g: Array, cols: Array, W: Array, padded: tuple[int, ...], pad: int, need_dx: bool
) -> tuple[Array, Array, Array | None]:
    """(dW, db, dx or None): dW = colsᵀ g, db = Σ g, dx by col2im of g Wᵀ (kh·kw slice additions)."""
    kh, kw, c, f = W.shape
    n, oh, ow, _ = g.shape
    g2 = g.reshape(-1, f)
    dW = (cols.T @ g2).reshape(W.shape)
    db = g2.sum(axis=0)
    if not need_dx:
        return dW, db, None
    dcols = (g2 @ W.reshape(-1, f).T).reshape(n, oh, ow, kh, kw, c)
    dx = np.zeros(padded, dtype=g.dtype)
    for a in range(kh):
        for b_ in range(kw):
            view = dx[:, a:a + oh, b_:b_ + ow]
            np.add(view, dcols[:, :, :, a, b_], out=view)
    return dW, db, dx[:, pad:padded[1] - pad, pad:padded[2] - pad]


def plain_pool_forward(x: Array) -> tuple[Array, Ints]:
    """2x2 max-pool, stride 2 (an odd last row or column dropped), by a reshape to (..., 4) and argmax."""
    n, h, w, c = x.shape
    h2, w2 = h // 2, w // 2
    windows = x[:, :2 * h2, :2 * w2].reshape(n, h2, 2, w2, 2, c).transpose(0, 1, 3, 5, 2, 4).reshape(n, h2, w2, c, 4)
    choice = windows.argmax(axis=-1)
    return np.take_along_axis(windows, choice[..., None], axis=-1)[..., 0], choice


def plain_pool_backward(g: Array, choice: Ints, shape: tuple[int, ...]) -> Array:
    n, h2, w2, c = g.shape
    d = np.zeros((n, h2, w2, c, 4), dtype=g.dtype)
    np.put_along_axis(d, choice[..., None], g[..., None], axis=-1)
    dx = np.zeros(shape, dtype=g.dtype)
    dx[:, :2 * h2, :2 * w2] = d.reshape(n, h2, w2, c, 2, 2).transpose(0, 1, 4, 2, 5, 3).reshape(n, 2 * h2, 2 * w2, c)
    return dx


def softmax_cross_entropy(z: Array, y: Labels) -> tuple[float, Array]:
    """(mean cross-entropy of softmax(z) for class indices y, dL/dz = (softmax(z) - onehot(y)) / m)."""
    m = len(z)
    shifted = z - z.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(m)
    loss = -float(log_p[rows, y].mean())
    dz = np.exp(log_p)
    dz[rows, y] -= 1
    dz /= m
    return loss, dz


def sigmoid_bce(z: Array, y: Labels) -> tuple[float, Array]:
    """(mean BCE of sigmoid(z), from the logits; dL/dz = (sigmoid(z) - y) / n)."""
    e = np.exp(-np.abs(z))  # <= 1, no overflow
    a = np.where(z >= 0, 1 / (1 + e), e / (1 + e))
    loss = float(np.mean(np.maximum(z, 0) - z * y + np.log1p(e)))
    return loss, (a - y) / z.size


class PlainNet:
    """numpy plain: the step written the obvious way (see the module's docstring)."""

    name = "numpy plain"

    def __init__(self, workload: Workload, weights: Sequence[Array]) -> None:
        self.workload = workload
        self.params = [w.copy() for w in weights]

    def loss_and_grads(self, X: Array, Y: Labels) -> tuple[float, list[Array]]:
        W1, b1, W2, b2, Wd, bd = self.params
        pad = self.workload.pad
        z1, cols1, padded1 = plain_conv_forward(X, W1, b1, pad)
        a1 = np.maximum(z1, 0)
        p1, choice1 = plain_pool_forward(a1)
        z2, cols2, padded2 = plain_conv_forward(p1, W2, b2, pad)
        a2 = np.maximum(z2, 0)
        p2, choice2 = plain_pool_forward(a2)
        h = p2.reshape(len(X), -1)
        z = h @ Wd + bd
        loss, dz = softmax_cross_entropy(z, Y) if self.workload.classes > 1 else sigmoid_bce(z, Y)
        dWd, dbd = h.T @ dz, dz.sum(axis=0)
        dp2 = (dz @ Wd.T).reshape(p2.shape)
        dz2 = plain_pool_backward(dp2, choice2, a2.shape) * (z2 > 0)
        dW2, db2, dp1 = plain_conv_backward(dz2, cols2, W2, padded2, pad, True)
        assert dp1 is not None
        dz1 = plain_pool_backward(dp1, choice1, a1.shape) * (z1 > 0)
        dW1, db1, _ = plain_conv_backward(dz1, cols1, W1, padded1, pad, False)
        return loss, [dW1, db1, dW2, db2, dWd, dbd]

    def step(self, X: Array, Y: Labels) -> float:
        loss, grads = self.loss_and_grads(X, Y)
        for p, g in zip(self.params, grads):
            np.subtract(p, LR * g, out=p)  # p -= lr * g
        return loss

    def dtypes(self) -> set[str]:
        return {str(p.dtype) for p in self.params}


# --- numpy best --------------------------------------------------------------------------------------


class HandLayer(Protocol):
    name: str

    def forward(self, x: Array) -> Array: ...

    def backward(self, g: Array) -> Array: ...


class BestConv:
    """A convolution for one input shape, with every buffer allocated once: the padded input (its
    border zero for good), the im2col matrix, the output, the gradients, dL/dcols (kernel offset by
    offset: (kh·kw, rows, C)) and dL/dx."""

    name = "Conv2D"

    def __init__(self, W: Array, b: Array, x_shape: tuple[int, ...], pad: int, need_dx: bool) -> None:
        kh, kw, c, f = W.shape
        n, h, w, _ = x_shape
        self.W, self.b, self.pad, self.need_dx = W, b, pad, need_dx  # W and b: views of the net's parameters
        self.size = (kh, kw, h, w)
        self.W2 = W.reshape(-1, f)
        dtype = W.dtype
        self.padded = np.zeros((n, h + 2 * pad, w + 2 * pad, c), dtype) if pad else None
        oh, ow = h + 2 * pad - kh + 1, w + 2 * pad - kw + 1
        self.out_hw = (oh, ow)
        self.cols6 = np.empty((n, oh, ow, kh, kw, c), dtype)
        self.cols = self.cols6.reshape(n * oh * ow, kh * kw * c)
        self.y = np.empty((n, oh, ow, f), dtype)
        self.y2 = self.y.reshape(-1, f)
        self.dW = np.empty_like(W)
        self.dW2 = self.dW.reshape(-1, f)
        self.db = np.empty_like(b)
        self.ones = np.ones(n * oh * ow, dtype)
        if need_dx:
            self.Wt = W.reshape(kh * kw, c, f).transpose(0, 2, 1)  # each kernel offset's Wᵀ (f, c), a view
            self.dcols = np.empty((kh * kw, n * oh * ow, c), dtype)  # offset by offset: contiguous blocks
            self.dcols6 = self.dcols.reshape(kh, kw, n, oh, ow, c)
            self.dpadded = np.zeros((n, h + 2 * pad, w + 2 * pad, c), dtype)
            self.dx = self.dpadded[:, pad:pad + h, pad:pad + w]

    def im2col(self, x: Array) -> None:
        kh, kw, h, w = self.size
        source = x
        if self.padded is not None:
            p = self.pad
            self.padded[:, p:p + h, p:p + w] = x
            source = self.padded
        np.copyto(self.cols6, sliding_window_view(source, (kh, kw), axis=(1, 2)).transpose(0, 1, 2, 4, 5, 3))

    def gemm(self) -> None:
        np.matmul(self.cols, self.W2, out=self.y2)

    def bias(self) -> None:
        self.y2 += self.b

    def forward(self, x: Array) -> Array:
        self.im2col(x)
        self.gemm()
        self.bias()
        return self.y

    def grad_W(self, g2: Array) -> None:
        np.matmul(self.cols.T, g2, out=self.dW2)

    def grad_b(self, g2: Array) -> None:
        np.matmul(self.ones, g2, out=self.db)  # Σ over the rows as a GEMV: 2-6x faster than g2.sum(axis=0)

    def grad_cols(self, g2: Array) -> None:
        np.matmul(g2, self.Wt, out=self.dcols)  # g Wᵀ, one GEMM a kernel offset

    def col2im(self) -> Array:
        kh, kw, _, _ = self.size
        oh, ow = self.out_hw
        self.dpadded.fill(0)
        for a in range(kh):
            for b in range(kw):
                view = self.dpadded[:, a:a + oh, b:b + ow]
                np.add(view, self.dcols6[a, b], out=view)  # a contiguous block: 4x faster than a strided one
        return self.dx

    def backward(self, g: Array) -> Array:
        g2 = g.reshape(-1, self.W2.shape[1])
        self.grad_W(g2)
        self.grad_b(g2)
        if not self.need_dx:
            return g  # the first layer: no dL/dx
        self.grad_cols(g2)
        return self.col2im()


class BestReLU:
    """In place: the mask kept for backward, which multiplies the incoming gradient by it in place."""

    name = "ReLU"

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.mask = np.empty(shape, dtype=bool)

    def forward(self, x: Array) -> Array:
        np.greater(x, 0, out=self.mask)
        return np.maximum(x, 0, out=x)

    def backward(self, g: Array) -> Array:
        return np.multiply(g, self.mask, out=g)


class BestPool:
    """2x2 max-pool, stride 2, from the 4 strided slices: a tournament (max of slices 0 and 1, of 2
    and 3, then of the two), keeping the 3 comparisons; backward writes each slice of dL/dx once,
    g times the mask of the windows whose max it holds (the first of tied entries, as argmax)."""

    name = "MaxPool2D"

    def __init__(self, shape: tuple[int, ...], dtype: npt.DTypeLike) -> None:
        n, h, w, c = shape
        h2, w2 = h // 2, w // 2
        self.out_shape = (n, h2, w2, c)
        self.out = np.empty(self.out_shape, dtype)
        self.m01, self.m23 = np.empty_like(self.out), np.empty_like(self.out)
        self.c01, self.c23, self.c, self.t = (np.empty(self.out_shape, dtype=bool) for _ in range(4))
        self.dx = np.zeros(shape, dtype)  # an odd last row or column stays 0
        self.dviews = self.slices(self.dx)

    def slices(self, x: Array) -> list[Array]:
        h2, w2 = self.out_shape[1:3]
        return [x[:, i:2 * h2:2, j:2 * w2:2] for i in (0, 1) for j in (0, 1)]

    def forward(self, x: Array) -> Array:
        s0, s1, s2, s3 = self.slices(x)
        np.greater(s1, s0, out=self.c01)  # ties: the first
        np.maximum(s0, s1, out=self.m01)
        np.greater(s3, s2, out=self.c23)
        np.maximum(s2, s3, out=self.m23)
        np.greater(self.m23, self.m01, out=self.c)
        return np.maximum(self.m01, self.m23, out=self.out)

    def backward(self, g: Array) -> Array:
        t, c, c01, c23 = self.t, self.c, self.c01, self.c23
        d0, d1, d2, d3 = self.dviews
        np.logical_or(c, c01, out=t)
        np.logical_not(t, out=t)
        np.multiply(g, t, out=d0)  # entry 0: not c and not c01
        np.greater(c01, c, out=t)
        np.multiply(g, t, out=d1)  # entry 1: c01 and not c
        np.greater(c, c23, out=t)
        np.multiply(g, t, out=d2)  # entry 2: c and not c23
        np.logical_and(c, c23, out=t)
        np.multiply(g, t, out=d3)  # entry 3: c and c23
        return self.dx


class BestFlatten:
    name = "Flatten"

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape

    def forward(self, x: Array) -> Array:
        return x.reshape(len(x), -1)

    def backward(self, g: Array) -> Array:
        return g.reshape(self.shape)


class BestDense:
    name = "Dense"

    def __init__(self, W: Array, b: Array, batch: int) -> None:
        self.W, self.b = W, b
        self.z = np.empty((batch, W.shape[1]), W.dtype)
        self.dW, self.db = np.empty_like(W), np.empty_like(b)
        self.dx = np.empty((batch, W.shape[0]), W.dtype)
        self.x: Array = self.dx

    def forward(self, x: Array) -> Array:
        self.x = x
        np.matmul(x, self.W, out=self.z)
        np.add(self.z, self.b, out=self.z)
        return self.z

    def backward(self, g: Array) -> Array:
        if self.W.shape[1] == 1:  # a wide, thin xᵀ g: (gᵀ x)ᵀ is faster; g Wᵀ is an outer product
            np.matmul(g.T, self.x, out=self.dW.reshape(1, -1))
            np.multiply(g, self.W.T, out=self.dx)
        else:
            np.matmul(self.x.T, g, out=self.dW)
            np.matmul(g, self.W.T, out=self.dx)
        np.sum(g, axis=0, out=self.db)
        return self.dx


class BestLoss:
    """Softmax cross-entropy (class indices) or sigmoid BCE, from the logits, in place."""

    def __init__(self, classes: int, batch: int, dtype: npt.DTypeLike) -> None:
        self.classes = classes
        self.g = np.empty((batch, classes), dtype)
        self.e = np.empty((batch, classes), dtype)
        self.rows = np.arange(batch)

    def forward(self, z: Array, y: Labels) -> float:
        g, e = self.g, self.e
        if self.classes > 1:
            np.subtract(z, z.max(axis=1, keepdims=True), out=g)
            np.exp(g, out=e)
            total = e.sum(axis=1, keepdims=True)
            loss = float(np.log(total).mean() - g[self.rows, y].mean())
            np.divide(e, total, out=g)  # softmax(z)
            g[self.rows, y] -= 1
            g /= len(g)
            return loss
        np.abs(z, out=e)
        np.negative(e, out=e)
        np.exp(e, out=e)  # e^-|z| <= 1
        loss = float(np.mean(np.maximum(z, 0) - z * y + np.log1p(e)))
        np.add(e, 1, out=g)
        np.divide(np.where(z >= 0, 1, e), g, out=g)  # sigmoid(z)
        g -= y
        g /= g.size
        return loss

    def backward(self) -> Array:
        return self.g


class BestNet:
    """numpy best: a chain of layers built for one input shape (see the module's docstring)."""

    name = "numpy best"

    def __init__(self, workload: Workload, weights: Sequence[Array]) -> None:
        self.params = [w.copy() for w in weights]
        W1, b1, W2, b2, Wd, bd = self.params
        dtype = W1.dtype
        s0, s1, s2 = workload.shapes()
        conv1 = BestConv(W1, b1, s0, workload.pad, need_dx=False)
        conv2 = BestConv(W2, b2, s1, workload.pad, need_dx=True)
        self.layers: list[HandLayer] = [
            conv1, BestReLU(conv1.y.shape), BestPool(conv1.y.shape, dtype),
            conv2, BestReLU(conv2.y.shape), BestPool(conv2.y.shape, dtype),
            BestFlatten(s2), BestDense(Wd, bd, workload.batch),
        ]
        self.loss = BestLoss(workload.classes, workload.batch, dtype)
        self.grads = [conv1.dW, conv1.db, conv2.dW, conv2.db, *self.dense_grads()]

    def dense_grads(self) -> list[Array]:
        dense = self.layers[-1]
        assert isinstance(dense, BestDense)
        return [dense.dW, dense.db]

    def loss_and_grads(self, X: Array, Y: Labels) -> tuple[float, list[Array]]:
        h = X
        for layer in self.layers:
            h = layer.forward(h)
        loss = self.loss.forward(h, Y)
        g = self.loss.backward()
        for layer in reversed(self.layers):
            g = layer.backward(g)
        return loss, self.grads

    def update(self) -> None:
        for p, g in zip(self.params, self.grads):
            g *= LR  # the gradients are scratch once the step has them
            np.subtract(p, g, out=p)

    def step(self, X: Array, Y: Labels) -> float:
        loss, _ = self.loss_and_grads(X, Y)
        self.update()
        return loss

    def dtypes(self) -> set[str]:
        return {str(p.dtype) for p in self.params}


# --- torch --------------------------------------------------------------------------------------------


class TorchConvNet(TorchSteps):
    """The same network in PyTorch (CPU), channels-first, holding the same weights: conv W (kh, kw,
    C, F) as (F, C, kh, kw), the Linear's W (H·W·C, classes) as (classes, C·H·W), its rows
    permuted from the channels-last flatten order to torch's channels-first one."""

    name = "torch"
    lr = LR

    def __init__(self, workload: Workload, weights: Sequence[Array], X: Array, Y: Labels) -> None:
        import torch

        nn = cast(Any, torch.nn)
        dtype = {np.dtype(np.float64): torch.float64, np.dtype(np.float32): torch.float32}[X.dtype]
        W1, b1, W2, b2, Wd, bd = weights
        c = workload.image[2]
        f1, f2 = workload.filters
        k, pad = workload.kernel, workload.pad
        conv1 = nn.Conv2d(c, f1, k, padding=pad, dtype=dtype)
        conv2 = nn.Conv2d(f1, f2, k, padding=pad, dtype=dtype)
        linear = nn.Linear(workload.dense_in, workload.classes, dtype=dtype)
        self.pooled = workload.shapes()[-1][1:]  # (H, W, C) entering the flatten
        with torch.no_grad():
            conv1.weight.copy_(torch.from_numpy(np.ascontiguousarray(W1.transpose(3, 2, 0, 1))))
            conv1.bias.copy_(torch.from_numpy(b1))
            conv2.weight.copy_(torch.from_numpy(np.ascontiguousarray(W2.transpose(3, 2, 0, 1))))
            conv2.bias.copy_(torch.from_numpy(b2))
            linear.weight.copy_(torch.from_numpy(self.to_torch_dense(Wd)))
            linear.bias.copy_(torch.from_numpy(bd))
        layers = [conv1, nn.ReLU(), nn.MaxPool2d(2), conv2, nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), linear]
        if workload.classes == 1:
            layers.append(nn.Sigmoid())
        self.model = nn.Sequential(*layers)
        self.params: list[torch.Tensor] = [conv1.weight, conv1.bias, conv2.weight, conv2.bias, linear.weight,
                                           linear.bias]
        self.loss = nn.CrossEntropyLoss() if workload.classes > 1 else nn.BCELoss()
        self.X = torch.from_numpy(np.ascontiguousarray(X.transpose(0, 3, 1, 2)))  # channels first, once
        self.Y = torch.from_numpy(Y)

    def to_torch_dense(self, Wd: Array) -> Array:
        """(H·W·C, classes), rows in channels-last order -> (classes, C·H·W), columns channels-first."""
        h, w, c = self.pooled
        return np.ascontiguousarray(Wd.reshape(h, w, c, -1).transpose(3, 2, 0, 1).reshape(Wd.shape[1], -1))

    def from_torch_dense(self, g: Array) -> Array:
        h, w, c = self.pooled
        return np.ascontiguousarray(g.reshape(-1, c, h, w).transpose(2, 3, 1, 0).reshape(h * w * c, -1))

    def _forward_backward(self) -> "torch.Tensor":
        self.model.zero_grad()
        loss: torch.Tensor = self.loss(self.model(self.X), self.Y)
        cast(Any, loss).backward()
        return loss

    def loss_and_grads(self) -> tuple[float, list[Array]]:
        """The loss and the gradients in the framework's layouts."""
        loss = self._forward_backward()
        grads: list[Array] = []
        for i, p in enumerate(self.params):
            assert p.grad is not None
            g = p.grad.detach().numpy()
            if g.ndim == 4:
                g = np.ascontiguousarray(g.transpose(2, 3, 1, 0))  # (F, C, kh, kw) -> (kh, kw, C, F)
            elif g.ndim == 2:
                g = self.from_torch_dense(g)
            grads.append(g.copy())
        return float(loss.item()), grads



def set_torch_threads() -> None:
    """load_torch gives torch numpy's BLAS threads when threadpoolctl tells them; without it, the
    count this script set in the environment before numpy read it."""
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(int(os.environ["OPENBLAS_NUM_THREADS"]))


# --- agreement ----------------------------------------------------------------------------------------


def tolerances(dtype: type[np.floating[Any]]) -> tuple[float, float]:
    """(rtol, atol relative to the largest |gradient| of a parameter) for np.allclose: float32 sums
    over up to 800 000 products (a conv's dL/dW), so its bounds are looser than step_time.py's."""
    return (1e-9, 1e-12) if dtype == np.float64 else (2e-3, 2e-5)


def agreement(
    label: str, dtype: type[np.floating[Any]], name: str, loss: float, grads: Sequence[Array], ref_loss: float,
    ref_grads: Sequence[Array],
) -> float:
    """The worst relative difference (in norm) of `name`'s gradients from numpy plain's, once the loss
    and every gradient agree (np.allclose, same shapes, dtype `dtype`); a SystemExit, nothing timed, if not."""
    rtol, atol = tolerances(dtype)
    worst = max(
        float(np.linalg.norm(g.astype(np.float64) - e) / max(float(np.linalg.norm(e)), 1e-300))
        for g, e in zip(grads, ref_grads)
    )
    ok = len(grads) == len(ref_grads) and math.isclose(loss, ref_loss, rel_tol=rtol) and all(
        g.shape == e.shape and g.dtype == e.dtype == dtype
        and np.allclose(g, e, rtol=rtol, atol=atol * float(np.abs(e).max()))
        for g, e in zip(grads, ref_grads)
    )
    if not ok:
        raise SystemExit(
            f"{label} {np.dtype(dtype)}: {name} and numpy plain disagree (loss {loss!r} vs {ref_loss!r}, worst "
            f"relative gradient difference {worst:.3g}): not the same math, nothing timed"
        )
    return worst


# --- the benchmark --------------------------------------------------------------------------------


def paired(timings: Sequence[Timing], a: str, b: str) -> float:
    """The median over the rounds of a's time per step over b's, in the same round."""
    by_name = {t.name: t for t in timings}
    return statistics.median(x / y for x, y in zip(by_name[a].per_step_s, by_name[b].per_step_s))


def run_workload(workload: Workload, dtype: type[np.floating[Any]], args: argparse.Namespace) -> dict[str, Any]:
    model = workload.build(dtype)
    X, Y, source = workload.data(dtype)
    weights = initial_weights(model)
    plain = PlainNet(workload, weights)
    best = BestNet(workload, weights)
    trainer = FrameworkTrainer(model, Y, workload.loss())
    label = workload.name
    ref_loss, ref_grads = plain.loss_and_grads(X, Y)
    checks: dict[str, float] = {}
    for name, (loss, grads) in (("numpy best", best.loss_and_grads(X, Y)),
                                ("framework", trainer.loss_and_grads(X, Y))):
        checks[name] = agreement(label, dtype, name, loss, [g.copy() for g in grads], ref_loss, ref_grads)
    contenders: list[Contender] = [
        Steps("numpy plain", lambda: plain.step(X, Y)),
        Steps("numpy best", lambda: best.step(X, Y)),
        Steps("framework", lambda: trainer.step(X, Y)),
    ]
    peer: TorchConvNet | None = None
    if args.torch:
        peer = TorchConvNet(workload, weights, X, Y)
        loss, grads = peer.loss_and_grads()
        checks["torch"] = agreement(label, dtype, "torch", loss, grads, ref_loss, ref_grads)
        contenders.append(peer)
    timings, redone = time_rounds(contenders, args.rounds, args.block, args.max_other_load)
    expected = {str(np.dtype(dtype))}
    drifts = {who.name: who.dtypes() for who in (plain, best, trainer)}
    if peer is not None:
        drifts[peer.name] = peer.dtypes()
    for name, found in drifts.items():
        if found != expected:
            raise SystemExit(f"{name}: dtype drift: expected only {expected}, found {sorted(found)}")
    by_name = {t.name: t for t in timings}
    result: dict[str, Any] = {
        "workload": workload.name,
        "title": workload.title,
        "data": source,
        "dtype": str(np.dtype(dtype)),
        "step_gflop": workload.step_gflop(),
        "ms": {t.name: t.median_ms for t in timings},
        "ratio_framework_best": paired(timings, "framework", "numpy best"),
        "ratio_framework_plain": paired(timings, "framework", "numpy plain"),
        "ratio_best_plain": paired(timings, "numpy best", "numpy plain"),
        "other_load": [v for t in timings for v in t.other_load],
        "rounds_redone": redone,
        "worst_relative_grad_difference": checks,
        "timings": [asdict(t) for t in timings],
    }
    if "torch" in by_name:
        result["ratio_framework_torch"] = paired(timings, "framework", "torch")
        result["ratio_best_torch"] = paired(timings, "numpy best", "torch")
    return result


def others(result: dict[str, Any]) -> str:
    load = result["other_load"]
    shown = f"{100 * statistics.median(load):.0f}/{100 * max(load):.0f}" if load else "?"
    return shown + (f" ({result['rounds_redone']} redone)" if result["rounds_redone"] else "")


def step_table(results: Sequence[dict[str, Any]]) -> str:
    have_torch = any("torch" in r["ms"] for r in results)
    header = ["dtype", "numpy plain ms", "numpy best ms", "framework ms"]
    header += ["torch ms"] if have_torch else []
    header += ["framework/best", "framework/plain"]
    header += ["framework/torch", "best/torch"] if have_torch else []
    header += ["best GFLOP/s", "others' CPU % median/max"]
    rows = []
    for r in results:
        ms = r["ms"]
        row = [r["dtype"], f"{ms['numpy plain']:.4g}", f"{ms['numpy best']:.4g}", f"{ms['framework']:.4g}"]
        if have_torch:
            row.append(f"{ms['torch']:.4g}" if "torch" in ms else "-")
        row += [f"{r['ratio_framework_best']:.2f}", f"{r['ratio_framework_plain']:.2f}"]
        if have_torch:
            row += ([f"{r['ratio_framework_torch']:.2f}", f"{r['ratio_best_torch']:.2f}"] if "torch" in ms
                    else ["-", "-"])
        row += [f"{r['step_gflop'] / (ms['numpy best'] * 1e-3):.1f}", others(r)]
        rows.append(row)
    return markdown_table(header, rows, [False, *([True] * (len(header) - 1))])


# --- the profile ----------------------------------------------------------------------------------


class Chain(Protocol):
    """What a phase profile needs of a step: its layers, its loss and its update."""

    def layer_list(self) -> Sequence[tuple[str, Any]]: ...

    def loss_forward(self, h: Array, Y: Labels) -> float: ...

    def loss_backward(self) -> Array: ...

    def first_backward(self, layer: Any, g: Array) -> None: ...

    def layer_backward(self, layer: Any, g: Array, scratch: bool) -> Array:
        """dL/dx from `layer`, given `g`: `scratch` when g is an array a layer above returned, not a view."""

    def workspace_layers(self) -> Sequence[Layer]: ...

    def update(self) -> None: ...

    def step(self, X: Array, Y: Labels) -> float: ...


@dataclass
class FrameworkChain:
    trainer: FrameworkTrainer

    def layer_list(self) -> Sequence[tuple[str, Any]]:
        return [(f"{i} {type(layer).__name__}", layer) for i, layer in enumerate(self.trainer.model.layers)]

    def loss_forward(self, h: Array, Y: Labels) -> float:
        value = self.trainer.loss.forward(h, Y)
        assert isinstance(value, float)
        return value

    def loss_backward(self) -> Array:
        return self.trainer.loss.backward()

    def first_backward(self, layer: Any, g: Array) -> None:
        layer.backward_params(g)  # as Sequential.backward does: no dL/dx for the first layer

    def layer_backward(self, layer: Any, g: Array, scratch: bool) -> Array:
        layer.grad_is_scratch = scratch  # as Sequential.backward sets it: ReLU then writes into g
        try:
            grad: Array = layer.backward(g)
            return grad
        finally:
            layer.grad_is_scratch = False

    def workspace_layers(self) -> Sequence[Layer]:
        return self.trainer.workspace

    def update(self) -> None:
        self.trainer.optimizer.step(self.trainer.params)

    def step(self, X: Array, Y: Labels) -> float:
        return self.trainer.step(X, Y)


@dataclass
class BestChain:
    net: BestNet

    def layer_list(self) -> Sequence[tuple[str, Any]]:
        return [(f"{i} {layer.name}", layer) for i, layer in enumerate(self.net.layers)]

    def loss_forward(self, h: Array, Y: Labels) -> float:
        return self.net.loss.forward(h, Y)

    def loss_backward(self) -> Array:
        return self.net.loss.backward()

    def first_backward(self, layer: Any, g: Array) -> None:
        layer.backward(g)

    def layer_backward(self, layer: Any, g: Array, scratch: bool) -> Array:
        grad: Array = layer.backward(g)
        return grad

    def workspace_layers(self) -> Sequence[Layer]:
        return []

    def update(self) -> None:
        self.net.update()

    def step(self, X: Array, Y: Labels) -> float:
        return self.net.step(X, Y)


def phase_times(chain: Chain, X: Array, Y: Labels) -> dict[str, float]:
    """One step taken phase by phase (each layer's forward, the loss, each layer's backward in reverse,
    the update), each call timed: seconds by phase name."""
    times: dict[str, float] = {}
    clock = time.perf_counter
    layers = chain.layer_list()
    begin = clock()
    with floating_point_errors("profile"), reusing_workspace(chain.workspace_layers()):  # as in fit's step
        h = X
        for name, layer in layers:
            start = clock()
            h = layer.forward(h)
            times[f"{name} forward"] = clock() - start
        start = clock()
        chain.loss_forward(h, Y)
        times["loss forward"] = clock() - start
        start = clock()
        g = given = chain.loss_backward()
        times["loss backward"] = clock() - start
        for k in range(len(layers) - 1, -1, -1):
            name, layer = layers[k]
            start = clock()
            if k:
                g = chain.layer_backward(layer, g, g is not given and g.base is None)
            else:
                chain.first_backward(layer, g)
            times[f"{name} backward"] = clock() - start
        start = clock()
        chain.update()
        times["update"] = clock() - start
    times["between phases"] = clock() - begin - sum(times.values())
    return times


def profile_steps(chain: Chain, X: Array, Y: Labels, repeat: int) -> dict[str, float]:
    """Median ms of each phase over `repeat` phase-timed steps ("between phases": the rest of such a
    step, the loop and the clock), of the sum of the phases ("phases"), and of a whole step taken
    the ordinary way ("step": the framework's through Sequential, timed in alternation with them)."""
    samples: dict[str, list[float]] = {}
    steps: list[float] = []
    chain.step(X, Y)
    for _ in range(repeat):
        times = phase_times(chain, X, Y)
        times["phases"] = sum(times.values())
        for name, s in times.items():
            samples.setdefault(name, []).append(s)
        start = time.perf_counter()
        chain.step(X, Y)
        steps.append(time.perf_counter() - start)
    ms = {name: 1e3 * statistics.median(s) for name, s in samples.items()}
    ms["step"] = 1e3 * statistics.median(steps)
    return ms


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return 1e3 * statistics.median(samples)


def conv_parts(trainer: FrameworkTrainer, net: BestNet, X: Array, Y: Labels, repeat: int) -> list[dict[str, Any]]:
    """The parts of each convolution's forward and backward, timed alone on the step's inputs and
    gradients: the framework's (its `_im2col`, and the lines of Conv2D.forward/backward one by
    one) and numpy best's (its methods)."""
    with floating_point_errors("profile"):
        model = trainer.model
        calls = model.trace(X)  # each layer's input
        trainer.loss.forward(model.forward(X), Y)
        g = trainer.loss.backward()
        grads: dict[int, Array] = {}
        for k in range(len(model.layers) - 1, 0, -1):
            grads[k] = g
            g = model.layers[k].backward(g)
        grads[0] = g
        net.loss_and_grads(X, Y)  # fills best's buffers: its cols, and the gradient each conv got
        best_convs = [layer for layer in net.layers if isinstance(layer, BestConv)]
        best_grads = [net_conv_grad(net, i) for i in range(len(best_convs))]
        parts: list[dict[str, Any]] = []
        convs = [(k, layer) for k, layer in enumerate(model.layers) if isinstance(layer, Conv2D)]
        for (k, conv), mine, mine_g in zip(convs, best_convs, best_grads):
            x, gk = calls[k].x, grads[k]
            assert isinstance(x, np.ndarray)
            f = conv.filters
            Wb = np.concatenate([conv.W.value.reshape(-1, f), conv.b.value[np.newaxis]])  # [W; b]
            geometry = conv._geometry(x.shape)
            patches = conv._im2col(x, geometry, reuse=True, ones=True)  # [cols 1], as forward makes it
            g2 = gk.reshape(-1, f)
            y = np.empty((len(patches), f), patches.dtype)  # the output, reused within fit's step

            def best_col2im() -> Array:
                mine.grad_cols(mine_g2)
                return mine.col2im()

            def best_forward() -> None:
                mine.gemm()
                mine.bias()

            def best_weight_grads() -> None:
                mine.grad_W(mine_g2)
                mine.grad_b(mine_g2)

            mine_g2 = mine_g.reshape(-1, f)
            rows: list[tuple[str, Callable[[], object], Callable[[], object] | None]] = [
                ("pad + im2col (framework: into the last forward's padded copy and matrix, its column of ones kept)",
                 lambda: conv._im2col(x, geometry, reuse=True, ones=True),
                 lambda: mine.im2col(x)),
                ("cols W + b (framework: one GEMM [cols 1] [W; b])", lambda: np.matmul(patches, Wb, out=y), best_forward),
                ("dW = colsᵀ g, db = 1ᵀ g (framework: one GEMM [cols 1]ᵀ g)", lambda: patches.T @ g2, best_weight_grads),
            ]
            if k:
                rows += [("GEMMs dcols = g W[a, b]ᵀ + col2im", lambda: conv._col2im(gk), best_col2im)]
            for part, theirs, ours in rows:
                parts.append({"layer": f"{k} Conv2D", "part": part, "framework_ms": median_ms(theirs, repeat),
                              "best_ms": median_ms(ours, repeat) if ours else None})
        return parts


def net_conv_grad(net: BestNet, index: int) -> Array:
    """The gradient numpy best's conv `index` got in the last step (the ReLU after it, backward,
    left it in the pool's dL/dx buffer)."""
    pools = [layer for layer in net.layers if isinstance(layer, BestPool)]
    return pools[index].dx


def run_profile(dtype: type[np.floating[Any]], args: argparse.Namespace) -> dict[str, Any]:
    workload = next(w for w in WORKLOADS if w.name == "cat")
    model = workload.build(dtype)
    X, Y, _ = workload.data(dtype)
    weights = initial_weights(model)
    trainer = FrameworkTrainer(model, Y, workload.loss())
    net = BestNet(workload, weights)
    meter = OtherLoad()
    meter.start()
    framework = profile_steps(FrameworkChain(trainer), X, Y, args.profile_repeat)
    best = profile_steps(BestChain(net), X, Y, args.profile_repeat)
    parts = conv_parts(trainer, net, X, Y, args.profile_repeat)
    load = meter.stop()
    return {"workload": workload.name, "dtype": str(np.dtype(dtype)), "framework_ms": framework, "best_ms": best,
            "conv_parts": parts, "other_load": load}


def profile_table(profile: dict[str, Any]) -> str:
    fw, best = profile["framework_ms"], profile["best_ms"]

    def key(name: str) -> str:  # "3 Conv2D forward" -> the same phase in the other chain
        return name

    totals = ("phases", "step")
    names = [n for n in fw if n not in totals]
    names += [n for n in best if n not in fw and n not in totals]
    names += list(totals)
    shown = {"phases": "sum: a phase-timed step", "step": "a whole step, untimed inside (Sequential)"}
    rows = []
    for name in names:
        a, b = fw.get(key(name)), best.get(key(name))
        row = [shown.get(name, name)]
        row += [f"{a:.2f}", f"{100 * a / fw['phases']:.1f}"] if a is not None else ["-", "-"]
        row += [f"{b:.2f}", f"{100 * b / best['phases']:.1f}"] if b is not None else ["-", "-"]
        row += [f"{a - (b or 0.0):+.2f}" if a is not None else "-"]
        row += [f"{a / b:.2f}" if a is not None and b is not None and b > 0.05 else "-"]
        rows.append(row)
    header = ["phase", "framework ms", "framework %", "best ms", "best %", "framework - best ms", "framework/best"]
    return markdown_table(header, rows, [False, *([True] * (len(header) - 1))])


def parts_table(profile: dict[str, Any]) -> str:
    rows = []
    for p in profile["conv_parts"]:
        b = p["best_ms"]
        rows.append([p["layer"], p["part"], f"{p['framework_ms']:.2f}", "-" if b is None else f"{b:.2f}",
                     "-" if b is None else f"{p['framework_ms'] - b:+.2f}"])
    return markdown_table(["layer", "part", "framework ms", "best ms", "framework - best ms"], rows,
                          [False, False, True, True, True])


# --- main -----------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds per workload and dtype (default 9; "
                                                                  "2 with --quick; 0: only the profile)")
    parser.add_argument("--block", type=float, default=None, help="seconds per timed block (default 0.5; 0.05 with "
                                                                 "--quick); a block is at least one step")
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds: a smoke run")
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch out even when installed")
    parser.add_argument("--only", choices=[w.name for w in WORKLOADS], help="run only this workload")
    parser.add_argument("--profile", action="store_true", help="also profile the phases of a step on the cat workload")
    parser.add_argument("--profile-repeat", type=int, default=None, help="steps (and calls) per profiled phase "
                                                                          "(default 15; 3 with --quick)")
    parser.add_argument("--max-other-load", type=float, default=0.1, metavar="FRACTION",
                        help="redo a round during which other processes used more than this share of the CPUs "
                             "(default 0.1; at most 2 x rounds are redone)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)
    if args.rounds == 0 and not args.profile:
        parser.error("--rounds 0 times nothing: give --profile too")
    args.rounds = args.rounds if args.rounds is not None else (2 if args.quick else 9)
    args.block = args.block if args.block is not None else (0.05 if args.quick else 0.5)
    args.profile_repeat = args.profile_repeat if args.profile_repeat is not None else (3 if args.quick else 15)

    args.torch = load_torch(not args.no_torch) is not None
    set_torch_threads()
    env = environment()
    print(describe(env))
    print(f"{args.rounds} rounds per workload and dtype, blocks of about {args.block} s, lr = {LR}\n", flush=True)
    results: list[dict[str, Any]] = []
    for workload in WORKLOADS:
        if args.only and args.only != workload.name:
            continue
        for dtype in DTYPES if args.rounds else ():
            result = run_workload(workload, dtype, args)
            results.append(result)
            agree = ", ".join(f"{k} {v:.1e}" for k, v in result["worst_relative_grad_difference"].items())
            print(f"  {workload.name} {result['dtype']}: " + ", ".join(f"{k} {v:.4g} ms" for k, v in
                                                                     result["ms"].items())
                  + f" (gradients agree with numpy plain's to: {agree})", flush=True)
    for workload in WORKLOADS:
        mine = [r for r in results if r["workload"] == workload.name]
        if mine:
            print(f"\n{workload.title}; data: {mine[0]['data']}; {mine[0]['step_gflop']:.3f} GFLOP of matrix "
                  "products a step\n")
            print(step_table(mine))
    profiles: list[dict[str, Any]] = []
    if args.profile:
        for dtype in DTYPES:
            profiles.append(run_profile(dtype, args))
        for p in profiles:
            load = "?" if p["other_load"] is None else f"{100 * p['other_load']:.0f}%"
            print(f"\nprofile, cat {p['dtype']}: median ms of each phase over {args.profile_repeat} steps "
                  f"(others used {load} of the CPUs meanwhile)\n")
            print(profile_table(p))
            print(f"\nthe convolutions' parts, cat {p['dtype']}, each timed alone on the step's arrays "
                  f"(median of {args.profile_repeat})\n")
            print(parts_table(p))
    print(f"\nload average at the end: {', '.join(map(str, load_average()))}")
    print("ms: median time per step over the rounds; ratios: the median over the rounds of the per-round ratio; "
          "best GFLOP/s: the step's matrix-product FLOPs over numpy best's time. others' CPU %: the share of all "
          f"CPUs other processes used during the timed blocks kept; rounds above {100 * args.max_other_load:.0f}% "
          "were redone (at most 2 x rounds).")
    if args.json:
        write_json(args.json, {"benchmark": "conv_step", "environment": env, "settings": vars(args),
                               "results": results, "profiles": profiles})


if __name__ == "__main__":
    main()
