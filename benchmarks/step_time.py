"""Time one training step of the framework against the same math written by hand in numpy.

A step is forward, BCE loss, backward and a plain gradient-descent update `p.value -= lr * p.grad`
(the framework's `SGD(lr)`, the labels checked once up front and one floating-point guard for the
step, as `fit` does). The hand-written version is batch-first (X is (m, n), W is (n_in, n_out)), uses
a stable sigmoid, the mean BCE and dL/dz = (a - y) / m, and does not compute dL/dX for the first
layer (nor does the framework's `Sequential.backward`). Before timing a workload, both compute the loss and the
gradients on the same weights and must agree (np.allclose): the comparison is of the same math.

PyTorch (CPU), when installed, is a peer column: the same network as nn.Linear layers holding the
same weights, ReLU, Sigmoid and nn.BCELoss (mean), on the same data and dtype, with as many
intra-op threads as numpy's BLAS; its step is zero_grad, forward, loss, backward and
`p -= lr * p.grad` under torch.no_grad(). Its loss and gradients are checked against numpy's in
the same way before it is timed. torch is optional: without it the torch columns are left out.

Contenders run in one process, alternating (numpy, framework[, scikit-learn][, torch], products) in every
round; a round times a block of steps of each (about --block seconds), after a warm-up. The table
gives the median over the rounds of the time per step.

The step's matrix products alone (x W, xᵀ g and g Wᵀ of the step's shapes, into preallocated
outputs) are timed in the same rounds, in numpy and, with torch, in torch: a step cannot take less
than its products on the same BLAS, and the step minus its products is what the framework (or torch)
spends on everything else.

For the 784-1024-1024-1 workload a 1024 x 1024 @ 1024 x 1024 numpy matmul (in the workload's dtype)
is timed in the same rounds: the GEMM throughput the machine achieves, against which each step's
effective throughput (its matrix-product FLOPs over its time) is given as a percentage.

    python benchmarks/step_time.py             # default: 15 rounds
    python benchmarks/step_time.py --quick     # smoke run
    python benchmarks/step_time.py --no-torch  # leave PyTorch out even when installed
    python benchmarks/step_time.py --json out.json
"""

from __future__ import annotations

import argparse
import functools
import gc
import math
import statistics
import sys
import time
import timeit
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import TorchSteps, OtherLoad, describe, environment, load_average, load_torch, markdown_table, write_json  # noqa: E402

from framework import SGD, Array, BCELoss, Dense, Labels, Loss, Sequential  # noqa: E402
from framework.training.objective import objective  # noqa: E402
from framework.core.guard import floating_point_errors  # noqa: E402
from framework.core.layer import reusing_workspace  # noqa: E402
from models import four_three_one, mlp_classifier  # noqa: E402

if TYPE_CHECKING:
    import torch

FloatArray = Array  # float32 or float64 here
LR = 0.01
GEMM_N = 1024
"""The GEMM that gives the machine's achieved matrix-product throughput: (N x N) @ (N x N)."""


@dataclass(frozen=True)
class Workload:
    name: str
    n_features: int
    hidden: tuple[int, ...]
    batch: int
    throughput: bool = False
    """Also time a GEMM in the same rounds and give each step's throughput as a share of it."""

    @property
    def widths(self) -> list[int]:
        return [self.n_features, *self.hidden, 1]

    def step_flops(self) -> int:
        """The floating-point operations of a step's matrix products, from the shapes: an (m x a) @
        (a x b) product is 2·m·a·b FLOPs. The forward does x W for every layer, the backward xᵀ g
        (dL/dW) for every layer and g Wᵀ (dL/dx) for every layer but the first. Bias adds, the
        activations, the loss and the update are left out (a fraction of a percent here)."""
        m = self.batch
        products = [2 * m * n_in * n_out for n_in, n_out in zip(self.widths, self.widths[1:])]
        return 2 * sum(products) + sum(products[1:])

    def elementwise_flops(self) -> int:
        """A rough count of what step_flops leaves out, for the footnote: about 10 operations per
        entry of every layer output (bias, activation and its derivative, bias gradient) and 2 per
        parameter (the update)."""
        outputs = sum(self.batch * n for n in self.widths[1:])
        params = sum((n_in + 1) * n_out for n_in, n_out in zip(self.widths, self.widths[1:]))
        return 10 * outputs + 2 * params

    def build(self, dtype: type[np.floating[Any]]) -> Sequential:
        if self.hidden == (4, 3):
            return four_three_one(self.n_features, seed=0, dtype=dtype)
        return mlp_classifier(self.n_features, self.hidden, seed=0, dtype=dtype)

    def data(self, dtype: type[np.floating[Any]]) -> tuple[FloatArray, FloatArray]:
        rng = np.random.default_rng(0)
        x = rng.standard_normal((self.batch, self.n_features)).astype(dtype)
        y = rng.integers(0, 2, (self.batch, 1)).astype(dtype)
        return x, y


WORKLOADS = (
    Workload("4-3-1, 1797 x 64 (digits size)", 64, (4, 3), 1797),
    Workload("12288-4-3-1, m = 209", 12288, (4, 3), 209),
    Workload("784-1024-1024-1, m = 256", 784, (1024, 1024), 256, throughput=True),
)
DTYPES: tuple[type[np.floating[Any]], ...] = (np.float64, np.float32)


class NumpyMLP:
    """The same network by hand: Dense -> ReLU for the hidden layers, Dense -> sigmoid, mean BCE."""

    def __init__(self, weights: Sequence[tuple[FloatArray, FloatArray]]) -> None:
        self.weights = [(W.copy(), b.copy()) for W, b in weights]

    def loss_and_grads(self, X: FloatArray, Y: FloatArray) -> tuple[float, list[tuple[FloatArray, FloatArray]]]:
        m = X.shape[0]
        last = len(self.weights) - 1
        inputs: list[FloatArray] = []
        pre: list[FloatArray] = []
        A: FloatArray = X
        for i, (W, b) in enumerate(self.weights):
            inputs.append(A)
            Z: FloatArray = A @ W
            np.add(Z, b, out=Z)
            pre.append(Z)
            if i < last:
                A = np.maximum(Z, 0)
        Z = pre[-1]
        e = np.exp(-np.abs(Z))  # <= 1, no overflow
        out = np.where(Z >= 0, 1 / (1 + e), e / (1 + e))  # stable sigmoid
        loss = float(np.mean(np.maximum(Z, 0) - Z * Y + np.log1p(e)))  # BCE of sigmoid(Z), from the logits
        dZ = (out - Y) / m  # dL/dZ of sigmoid + mean BCE
        grads: list[tuple[FloatArray, FloatArray]] = []
        for i in range(last, -1, -1):
            grads.append((inputs[i].T @ dZ, dZ.sum(axis=0)))
            if i > 0:  # no dL/dX for the first layer
                dZ = (dZ @ self.weights[i][0].T) * (pre[i - 1] > 0)
        return loss, grads[::-1]

    def step(self, X: FloatArray, Y: FloatArray, lr: float) -> float:
        loss, grads = self.loss_and_grads(X, Y)
        for (W, b), (dW, db) in zip(self.weights, grads):
            np.subtract(W, lr * dW, out=W)  # W -= lr * dW
            np.subtract(b, lr * db, out=b)
        return loss

    def arrays(self) -> list[FloatArray]:
        return [a for pair in self.weights for a in pair]


class FrameworkTrainer:
    """A step as `fit` takes it: forward, the loss (BCELoss unless given; its labels checked once, as
    fit does), backward and the framework's SGD (no momentum: the same update as numpy's), under one
    floating-point guard, the layers reusing their arrays (`reusing_workspace`). conv_step.py times its
    convnets with it too."""

    name = "framework"

    def __init__(self, model: Sequential, Y: Labels, loss: Loss | None = None) -> None:
        self.model = model
        self.loss = BCELoss() if loss is None else loss
        self.loss.check_labels(Y)
        self.loss.labels_checked = True
        self.optimizer = SGD(lr=LR)
        self.params = model.parameters()
        self.workspace = model.workspace_layers()  # as fit: these reuse their arrays within a step
        self.objective = objective(model, self.loss)  # as fit: a closing Sigmoid and BCELoss back-propagate as one

    def loss_and_grads(self, X: FloatArray, Y: Labels) -> tuple[float, list[FloatArray]]:
        with floating_point_errors("step"):
            value = self._forward_backward(X, Y)
        return value, [p.grad for p in self.params]

    def step(self, X: FloatArray, Y: Labels) -> float:
        with floating_point_errors("step"), reusing_workspace(self.workspace):  # one guard, as fit's step
            value = self._forward_backward(X, Y)
            self.optimizer.step(self.params)
        return value

    def _forward_backward(self, X: FloatArray, Y: Labels) -> float:
        value = self.objective.forward(X, self.objective.outputs(X), Y, None)
        self.objective.backward()
        return value

    def dtypes(self) -> set[str]:
        return {str(a.dtype) for p in self.params for a in (p.value, p.grad)}


def dense_weights(model: Sequential) -> list[tuple[FloatArray, FloatArray]]:
    return [(layer.W.value.copy(), layer.b.value.copy()) for layer in model.layers if isinstance(layer, Dense)]


def tolerances(dtype: type[np.floating[Any]]) -> tuple[float, float]:
    """(rtol, atol relative to the largest |gradient|) for np.allclose."""
    return (1e-9, 1e-12) if dtype == np.float64 else (1e-3, 1e-5)


def agreement(
    workload: Workload,
    dtype: type[np.floating[Any]],
    name: str,
    loss: float,
    grads: Sequence[FloatArray],
    np_loss: float,
    np_grads: Sequence[tuple[FloatArray, FloatArray]],
) -> float:
    """The worst relative difference of `name`'s gradients from numpy's, once loss and gradients agree
    (np.allclose at `tolerances(dtype)`, same shapes, dtype `dtype`); a SystemExit, nothing timed, if not."""
    expected = [g for pair in np_grads for g in pair]
    rtol, atol = tolerances(dtype)
    scale = max(float(np.abs(g).max()) for g in expected)
    worst = max(
        float(np.linalg.norm(g.astype(np.float64) - e) / max(float(np.linalg.norm(e)), 1e-300))
        for g, e in zip(grads, expected)
    )
    ok = math.isclose(loss, np_loss, rel_tol=rtol) and all(
        g.shape == e.shape and g.dtype == e.dtype == dtype and np.allclose(g, e, rtol=rtol, atol=atol * scale)
        for g, e in zip(grads, expected)
    )
    if not ok:
        raise SystemExit(
            f"{workload.name} {np.dtype(dtype)}: {name} and numpy disagree (loss {loss!r} vs {np_loss!r}, "
            f"worst relative gradient difference {worst:.3g}): not the same math, nothing timed"
        )
    return worst


def verify(workload: Workload, dtype: type[np.floating[Any]]) -> dict[str, Any]:
    """Loss and gradients of the framework and of the hand-written numpy, at the same weights."""
    model = workload.build(dtype)
    X, Y = workload.data(dtype)
    reference = NumpyMLP(dense_weights(model))
    np_loss, np_grads = reference.loss_and_grads(X, Y)
    fw_loss, fw_grads = FrameworkTrainer(model, Y).loss_and_grads(X, Y)
    worst = agreement(workload, dtype, "the framework", fw_loss, fw_grads, np_loss, np_grads)
    return {"loss_framework": fw_loss, "loss_numpy": np_loss, "worst_relative_grad_difference": worst}


class Contender(Protocol):
    name: str

    def run(self, steps: int) -> None: ...


@dataclass
class Steps:
    """A contender that takes `steps` steps with a step function."""

    name: str
    step: Callable[[], object]

    def run(self, steps: int) -> None:
        for _ in range(steps):
            self.step()


@dataclass
class SklearnMLP:
    """scikit-learn's MLPClassifier with the same architecture, full-batch SGD, no momentum, no L2:
    fit(max_iter=k) with warm_start does k iterations (plus one input validation per block)."""

    name: str
    clf: Any
    X: FloatArray
    y: npt.NDArray[np.int64]

    def run(self, steps: int) -> None:
        from sklearn.exceptions import ConvergenceWarning

        self.clf.set_params(max_iter=steps)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.clf.fit(self.X, self.y)


def make_sklearn(
    workload: Workload, dtype: type[np.floating[Any]], weights: list[tuple[FloatArray, FloatArray]]
) -> tuple[SklearnMLP, dict[str, Any]] | None:
    """The scikit-learn contender, checked like the numpy one (one step from the same weights must
    give the same loss and the same updated weights), or None when scikit-learn is not installed."""
    try:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier
    except ImportError:
        return None
    X, Y = workload.data(dtype)
    y = Y.ravel().astype(np.int64)
    clf = MLPClassifier(
        hidden_layer_sizes=workload.hidden, activation="relu", solver="sgd", alpha=0.0, batch_size=workload.batch,
        learning_rate="constant", learning_rate_init=LR, momentum=0.0, nesterovs_momentum=False, shuffle=False,
        max_iter=1, tol=0.0, n_iter_no_change=10**9, warm_start=True, early_stopping=False, random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)  # sets up the estimator; then start from the framework's weights
        clf.coefs_ = [W.copy() for W, _ in weights]
        clf.intercepts_ = [b.copy() for _, b in weights]
        clf.fit(X, y)  # one step
    reference = NumpyMLP(weights)
    loss = reference.step(X, Y, LR)
    rtol, _ = tolerances(dtype)
    after = [a for pair in zip(clf.coefs_, clf.intercepts_) for a in pair]
    same = math.isclose(float(clf.loss_curve_[-1]), loss, rel_tol=max(rtol, 1e-7)) and all(
        np.allclose(a, r, rtol=rtol, atol=rtol * float(np.abs(r).max())) for a, r in zip(after, reference.arrays())
    )
    dtypes = {str(a.dtype) for a in after}
    check = {"loss_sklearn": float(clf.loss_curve_[-1]), "same_step_as_numpy": same, "dtypes": sorted(dtypes)}
    return SklearnMLP("scikit-learn", clf, X, y), check


class TorchMLP(TorchSteps):
    """The same network in PyTorch (CPU): nn.Linear layers holding the same weights (torch keeps W
    as (out, in): Wᵀ is copied in), ReLU, Sigmoid, nn.BCELoss (the mean), on the same data (shared
    with numpy, not copied). A step is zero_grad, forward, loss, backward and plain SGD
    `p -= lr * p.grad` under torch.no_grad(); like the other two it returns the loss as a float."""

    name = "torch"
    lr = LR

    def __init__(self, weights: Sequence[tuple[FloatArray, FloatArray]], X: FloatArray, Y: FloatArray) -> None:
        import torch

        dtype = {np.dtype(np.float64): torch.float64, np.dtype(np.float32): torch.float32}[X.dtype]
        layers: list[torch.nn.Module] = []
        for W, b in weights:
            linear = torch.nn.Linear(W.shape[0], W.shape[1], dtype=dtype)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(W.T))
                linear.bias.copy_(torch.from_numpy(b))
            layers += [linear, torch.nn.ReLU()]
        layers[-1] = torch.nn.Sigmoid()
        self.model = torch.nn.Sequential(*layers)
        self.params: list[torch.Tensor] = list(self.model.parameters())  # weight, bias of each Linear: numpy's order
        self.loss = torch.nn.BCELoss()
        self.X, self.Y = torch.from_numpy(X), torch.from_numpy(Y)

    def _forward_backward(self) -> "torch.Tensor":
        self.model.zero_grad()
        loss: torch.Tensor = self.loss(self.model(self.X), self.Y)
        cast(Any, loss).backward()  # torch leaves Tensor.backward unannotated (and CI type-checks without torch)
        return loss

    def loss_and_grads(self) -> tuple[float, list[FloatArray]]:
        """The loss and the gradients in numpy's layout (dL/dW as (in, out))."""
        loss = self._forward_backward()
        grads: list[FloatArray] = []
        for p in self.params:
            assert p.grad is not None
            g = p.grad.detach().numpy()
            grads.append(g.T.copy() if g.ndim == 2 else g.copy())
        return float(loss.item()), grads



def make_torch(
    workload: Workload, dtype: type[np.floating[Any]], weights: list[tuple[FloatArray, FloatArray]]
) -> tuple[TorchMLP, dict[str, Any]]:
    """The PyTorch contender, once its loss and gradients at `weights` agree with numpy's (np.allclose,
    the tolerances the framework is held to); a SystemExit, nothing timed, if they do not."""
    X, Y = workload.data(dtype)
    contender = TorchMLP(weights, X, Y)
    np_loss, np_grads = NumpyMLP(weights).loss_and_grads(X, Y)
    torch_loss, torch_grads = contender.loss_and_grads()
    worst = agreement(workload, dtype, "torch", torch_loss, torch_grads, np_loss, np_grads)
    return contender, {"loss_torch": torch_loss, "loss_numpy": np_loss, "worst_relative_grad_difference": worst}


@dataclass(frozen=True)
class Product:
    """One matrix product of a step, `out = a @ b`: the forward's x W ("xW"), dL/dW = xᵀ g ("xTg")
    or dL/dx = g Wᵀ ("gWT")."""

    kind: str
    a: FloatArray
    b: FloatArray
    out: FloatArray


def products(workload: Workload, dtype: type[np.floating[Any]]) -> list[Product]:
    """Every matrix product of a step, as `Workload.step_flops` counts them, on random arrays of the
    step's shapes: x W and xᵀ g for every layer, g Wᵀ for every layer but the first."""
    rng = np.random.default_rng(2)
    m = workload.batch

    def new(*shape: int) -> FloatArray:
        return rng.standard_normal(shape).astype(dtype)

    step = []
    for i, (n_in, n_out) in enumerate(zip(workload.widths, workload.widths[1:])):
        x, W, g = new(m, n_in), new(n_in, n_out), new(m, n_out)
        step += [Product("xW", x, W, new(m, n_out)), Product("xTg", x.T, g, new(n_in, n_out))]
        if i > 0:
            step.append(Product("gWT", g, W.T, new(m, n_in)))
    return step


def make_numpy_products(workload: Workload, dtype: type[np.floating[Any]]) -> Steps:
    """The step's matrix products alone in numpy, each into a preallocated output in the faster of
    its two orientations, a @ b or bᵀ aᵀ (the transposed result, kept so; picked once, by timing
    both): about the least time any step built on numpy's BLAS can take."""
    calls: list[Callable[[], object]] = []
    for p in products(workload, dtype):
        transposed = np.empty(p.out.shape[::-1], dtype)  # C-contiguous: numpy's matmul skips BLAS for others
        candidates = (functools.partial(np.matmul, p.a, p.b, out=p.out),
                      functools.partial(np.matmul, p.b.T, p.a.T, out=transposed))
        calls.append(min(candidates, key=lambda call: min(timeit.repeat(call, number=3, repeat=3))))
    return Steps("numpy products", lambda: [call() for call in calls])


def make_torch_products(workload: Workload, dtype: type[np.floating[Any]]) -> Steps:
    """The same products in torch, in the layout of its nn.Linear (W kept as (out, in): forward
    x Wᵀ, dL/dW as gᵀ x, dL/dx as g W), each into a preallocated output."""
    import torch

    calls: list[Callable[[], object]] = []
    for p in products(workload, dtype):
        if p.kind == "xW":
            W = torch.from_numpy(np.ascontiguousarray(p.b.T))  # (out, in)
            args = (torch.from_numpy(p.a), W.T, torch.from_numpy(p.out))
        elif p.kind == "xTg":
            args = (torch.from_numpy(p.b).T, torch.from_numpy(p.a.T), torch.from_numpy(np.ascontiguousarray(p.out.T)))
        else:
            args = (torch.from_numpy(p.a), torch.from_numpy(np.ascontiguousarray(p.b)), torch.from_numpy(p.out))
        calls.append(functools.partial(torch.mm, args[0], args[1], out=args[2]))
    return Steps("torch products", lambda: [call() for call in calls])


def make_gemm(dtype: type[np.floating[Any]]) -> Steps:
    """(N x N) @ (N x N) into a preallocated output: 2·N³ FLOPs at the BLAS's best."""
    rng = np.random.default_rng(1)
    A, B = (rng.standard_normal((GEMM_N, GEMM_N)).astype(dtype) for _ in range(2))
    C = np.empty((GEMM_N, GEMM_N), dtype=dtype)
    return Steps(f"GEMM {GEMM_N}^3", lambda: np.matmul(A, B, out=C))


@dataclass
class Timing:
    name: str
    steps_per_block: int
    per_step_s: list[float] = field(default_factory=list)
    other_load: list[float] = field(default_factory=list)
    """The share of all CPUs that other processes used during each block (see OtherLoad)."""

    @property
    def median_ms(self) -> float:
        return statistics.median(self.per_step_s) * 1e3


def calibrate(contender: Contender, block_s: float) -> int:
    """Warm up, and return the number of steps that take about `block_s`."""
    contender.run(2)
    steps, elapsed = 1, 0.0
    while True:
        start = time.perf_counter()
        contender.run(steps)
        elapsed = time.perf_counter() - start
        if elapsed >= min(block_s, 0.1) or steps >= 1 << 20:
            break
        steps *= 2
    return max(1, round(block_s * steps / elapsed))


def time_rounds(
    contenders: Sequence[Contender], rounds: int, block_s: float, max_other_load: float
) -> tuple[list[Timing], int]:
    """Time `rounds` rounds, each a block of every contender in turn (A B A B ...). A round during
    which other processes used more than `max_other_load` of the CPUs is discarded and redone, at
    most 2 x `rounds` times; returns the timings and the number of rounds redone."""
    timings = [Timing(c.name, calibrate(c, block_s)) for c in contenders]
    meter = OtherLoad()
    redone = 0
    while len(timings[0].per_step_s) < rounds:
        measured: list[tuple[float, float | None]] = []
        for contender, timing in zip(contenders, timings):
            gc.collect()
            meter.start()
            start = time.perf_counter()
            contender.run(timing.steps_per_block)
            measured.append(((time.perf_counter() - start) / timing.steps_per_block, meter.stop()))
        if any(load is not None and load > max_other_load for _, load in measured) and redone < 2 * rounds:
            redone += 1
            time.sleep(0.5)
            continue
        for timing, (per_step, load) in zip(timings, measured):
            timing.per_step_s.append(per_step)
            if load is not None:
                timing.other_load.append(load)
    return timings, redone


def check_dtype(dtype: type[np.floating[Any]], trainer: FrameworkTrainer, reference: NumpyMLP, X: FloatArray) -> None:
    """After training, every parameter, gradient and the output must still be of `dtype`."""
    arrays = [p.value for p in trainer.params] + [p.grad for p in trainer.params] + reference.arrays()
    arrays.append(trainer.model.forward(X))
    found = {str(a.dtype) for a in arrays}
    if found != {str(np.dtype(dtype))}:
        raise SystemExit(f"dtype drift: expected only {np.dtype(dtype)}, found {sorted(found)}")


def run_workload(workload: Workload, dtype: type[np.floating[Any]], args: argparse.Namespace) -> dict[str, Any]:
    verified = verify(workload, dtype)
    model = workload.build(dtype)
    X, Y = workload.data(dtype)
    weights = dense_weights(model)
    reference = NumpyMLP(weights)
    trainer = FrameworkTrainer(model, Y)
    contenders: list[Contender] = [
        Steps("numpy", lambda: reference.step(X, Y, LR)),
        Steps("framework", lambda: trainer.step(X, Y)),
    ]
    sklearn_check: dict[str, Any] | None = None
    if not args.no_sklearn:
        made = make_sklearn(workload, dtype, weights)
        if made is not None:
            contenders.append(made[0])
            sklearn_check = made[1]
    peer: TorchMLP | None = None
    torch_check: dict[str, Any] | None = None
    if args.torch:
        peer, torch_check = make_torch(workload, dtype, weights)
        contenders.append(peer)
    contenders.append(make_numpy_products(workload, dtype))
    if peer is not None:
        contenders.append(make_torch_products(workload, dtype))
    gemm = make_gemm(dtype) if workload.throughput else None
    if gemm is not None:
        contenders.append(gemm)
    timings, redone = time_rounds(contenders, args.rounds, args.block, args.max_other_load)
    check_dtype(dtype, trainer, reference, X)
    if peer is not None and peer.dtypes() != {str(np.dtype(dtype))}:
        raise SystemExit(f"torch dtype drift: expected only {np.dtype(dtype)}, found {sorted(peer.dtypes())}")
    by_name = {t.name: t for t in timings}
    result: dict[str, Any] = {
        "workload": workload.name,
        "dtype": str(np.dtype(dtype)),
        "numpy_ms": by_name["numpy"].median_ms,
        "framework_ms": by_name["framework"].median_ms,
        "ratio": by_name["framework"].median_ms / by_name["numpy"].median_ms,
        "paired_ratio": statistics.median(
            f / n for f, n in zip(by_name["framework"].per_step_s, by_name["numpy"].per_step_s)
        ),
        "other_load": [v for t in timings for v in t.other_load],
        "rounds_redone": redone,
        "verified": verified,
        "timings": [asdict(t) for t in timings],
    }
    result["products_ms"] = {name.removesuffix(" products"): by_name[name].median_ms
                             for name in ("numpy products", "torch products") if name in by_name}
    if "scikit-learn" in by_name:
        result["sklearn_ms"] = by_name["scikit-learn"].median_ms
        result["sklearn_check"] = sklearn_check
    if peer is not None:
        result["torch_ms"] = by_name["torch"].median_ms
        result["ratio_framework_torch"] = result["framework_ms"] / result["torch_ms"]
        result["paired_ratio_framework_torch"] = statistics.median(
            f / t for f, t in zip(by_name["framework"].per_step_s, by_name["torch"].per_step_s)
        )
        result["torch_check"] = torch_check
    if gemm is not None:
        gemm_gflops = 2 * GEMM_N**3 / (by_name[gemm.name].median_ms * 1e-3) / 1e9
        step_gflop = workload.step_flops() / 1e9
        result["throughput"] = {
            "step_gflop": step_gflop,
            "elementwise_gflop_left_out": workload.elementwise_flops() / 1e9,
            "gemm_ms": by_name[gemm.name].median_ms,
            "gemm_gflops": gemm_gflops,
            **{f"{name.replace(' ', '_')}_gflops": step_gflop / (by_name[name].median_ms * 1e-3)
               for name in ("numpy", "framework", "torch", "numpy products", "torch products") if name in by_name},
        }
    return result


def spread(result: dict[str, Any], name: str) -> str:
    samples = next(t["per_step_s"] for t in result["timings"] if t["name"] == name)
    return f"{min(samples) * 1e3:.3g}-{max(samples) * 1e3:.3g}"


def others(result: dict[str, Any]) -> str:
    load = result["other_load"]
    shown = f"{100 * statistics.median(load):.0f}/{100 * max(load):.0f}" if load else "?"
    return shown + (f" ({result['rounds_redone']} redone)" if result["rounds_redone"] else "")


def step_table(results: Sequence[dict[str, Any]]) -> str:
    """Times per step, the ratios, the spreads and the load, one row per workload and dtype."""
    have_sklearn = any("sklearn_ms" in r for r in results)
    have_torch = any("torch_ms" in r for r in results)
    header = ["workload", "dtype", "numpy ms/step", "framework ms/step", "ratio framework/numpy", "paired ratio"]
    if have_sklearn:
        header.append("scikit-learn ms/iter")
    if have_torch:
        header += ["torch ms/step", "ratio framework/torch", "paired ratio framework/torch"]
    header += ["numpy min-max", "framework min-max"]
    if have_torch:
        header.append("torch min-max")
    header.append("others' CPU % median/max")
    rows = []
    for r in results:
        row = [r["workload"], r["dtype"], f"{r['numpy_ms']:.4g}", f"{r['framework_ms']:.4g}", f"{r['ratio']:.2f}",
               f"{r['paired_ratio']:.2f}"]
        if have_sklearn:
            row.append(f"{r['sklearn_ms']:.4g}" if "sklearn_ms" in r else "-")
        if have_torch:
            row += [f"{r['torch_ms']:.4g}", f"{r['ratio_framework_torch']:.2f}",
                    f"{r['paired_ratio_framework_torch']:.2f}"] if "torch_ms" in r else ["-"] * 3
        row += [spread(r, "numpy"), spread(r, "framework")]
        if have_torch:
            row.append(spread(r, "torch") if "torch_ms" in r else "-")
        row.append(others(r))
        rows.append(row)
    return markdown_table(header, rows, [False, False, *([True] * (len(header) - 2))])


def throughput_table(results: Sequence[dict[str, Any]]) -> str:
    """For the workloads timed with a GEMM: the GEMM's GFLOP/s and each step's share of it."""
    timed = [r for r in results if "throughput" in r]
    have_torch = any("torch_gflops" in r["throughput"] for r in timed)
    header = ["workload", "dtype", "step GFLOP", f"GEMM {GEMM_N}^3 ms", "GEMM GFLOP/s", "framework GFLOP/s",
              "framework % of GEMM", "numpy % of GEMM", "numpy products alone % of GEMM"]
    if have_torch:
        header += ["torch % of GEMM", "torch products alone % of GEMM"]
    rows = []
    for r in timed:
        t = r["throughput"]
        row = [r["workload"], r["dtype"], f"{t['step_gflop']:.3f}", f"{t['gemm_ms']:.4g}", f"{t['gemm_gflops']:.1f}",
               f"{t['framework_gflops']:.1f}", f"{100 * t['framework_gflops'] / t['gemm_gflops']:.0f}",
               f"{100 * t['numpy_gflops'] / t['gemm_gflops']:.0f}",
               f"{100 * t['numpy_products_gflops'] / t['gemm_gflops']:.0f}"]
        if have_torch:
            row += [f"{100 * t[f'{name}_gflops'] / t['gemm_gflops']:.0f}" if f"{name}_gflops" in t else "-"
                    for name in ("torch", "torch_products")]
        rows.append(row)
    return markdown_table(header, rows, [False, False, *([True] * (len(header) - 2))])


def products_table(results: Sequence[dict[str, Any]]) -> str:
    """Each step against its matrix products alone (same BLAS, same rounds): what is left, the step
    minus its products, is the element-wise work, the update and the Python around them."""
    have_torch = any("torch" in r["products_ms"] for r in results)
    header = ["workload", "dtype", "numpy products ms", "framework ms", "framework - products ms"]
    if have_torch:
        header += ["torch products ms", "torch ms", "torch - its products ms"]
    rows = []
    for r in results:
        own = r["products_ms"]["numpy"]
        row = [r["workload"], r["dtype"], f"{own:.4g}", f"{r['framework_ms']:.4g}", f"{r['framework_ms'] - own:.3g}"]
        if have_torch:
            theirs = r["products_ms"].get("torch")
            row += [f"{theirs:.4g}", f"{r['torch_ms']:.4g}", f"{r['torch_ms'] - theirs:.3g}"] if theirs else ["-"] * 3
        rows.append(row)
    return markdown_table(header, rows, [False, False, *([True] * (len(header) - 2))])


def flops_footnote(workload: Workload) -> str:
    """How step_flops counts, written out for `workload`, and how it compares with the 2.43 GFLOP
    quoted for the 784-1024-1024-1 step."""
    m, pairs = workload.batch, list(zip(workload.widths, workload.widths[1:]))
    forward = " + ".join(f"{a}·{b}" for a, b in pairs)
    later = " + ".join(f"{a}·{b}" for a, b in pairs[1:])
    total, forward_flops = workload.step_flops(), 2 * m * sum(a * b for a, b in pairs)
    return (
        f"step GFLOP ({workload.name}): the matrix products only, 2·m·a·b for an (m x a) @ (a x b), m = {m}: forward "
        f"x W 2m({forward}) = {forward_flops / 1e9:.4f}, backward dL/dW = xᵀ g the same, dL/dx = g Wᵀ for the layers "
        f"after the first 2m({later}) = {(total - 2 * forward_flops) / 1e9:.4f} (the first layer's is never computed): {total:,} FLOPs = {total / 1e9:.4f} GFLOP (10⁹), the 2.43 GFLOP the "
        f"issue quotes (in 2³⁰ units it would be {total / 2**30:.3f}). Left out: bias adds, ReLU/sigmoid and their "
        f"derivatives, the loss, the bias gradients and the update, roughly {workload.elementwise_flops() / 1e6:.1f} "
        f"MFLOP ({100 * workload.elementwise_flops() / total:.2f}%), and memory-bound besides. GEMM GFLOP/s: "
        f"2·{GEMM_N}³ FLOPs over the median time of np.matmul(A, B, out=C) timed in the same rounds; % of GEMM: the "
        "step's GFLOP/s (step GFLOP / median step time) over it."
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds per workload (default 15; 3 with --quick)")
    parser.add_argument("--block", type=float, default=None, help="seconds per timed block (default 0.25; 0.05 with --quick)")
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds: a smoke run")
    parser.add_argument("--no-sklearn", action="store_true", help="leave scikit-learn out even when installed")
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch out even when installed")
    parser.add_argument("--max-other-load", type=float, default=0.1, metavar="FRACTION",
                        help="redo a round during which other processes used more than this share of the CPUs "
                             "(default 0.1; at most 2 x rounds are redone)")
    parser.add_argument("--only", metavar="TEXT", help="run only the workloads whose name contains TEXT")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)
    args.rounds = args.rounds if args.rounds is not None else (3 if args.quick else 15)
    args.block = args.block if args.block is not None else (0.05 if args.quick else 0.25)

    if not args.no_sklearn:
        try:  # loaded before the thread pools are listed: scikit-learn brings its OpenMP runtime
            import sklearn.neural_network  # noqa: F401
        except ImportError:
            pass
    args.torch = load_torch(not args.no_torch) is not None  # before the thread pools are listed, as scikit-learn
    env = environment()
    print(describe(env))
    print(f"{args.rounds} rounds per workload, blocks of about {args.block} s, lr = {LR}; median time per step\n",
          flush=True)
    results = []
    for workload in WORKLOADS:
        if args.only and args.only not in workload.name:
            continue
        for dtype in DTYPES:
            result = run_workload(workload, dtype, args)
            results.append(result)
            peer = (f", torch {result['torch_ms']:.4g} ms (gradients agree with numpy's to "
                    f"{result['torch_check']['worst_relative_grad_difference']:.1e})" if "torch_ms" in result else "")
            print(f"  {workload.name} {result['dtype']}: numpy {result['numpy_ms']:.4g} ms, framework "
                  f"{result['framework_ms']:.4g} ms (verified: gradients agree to "
                  f"{result['verified']['worst_relative_grad_difference']:.1e}){peer}", flush=True)
    print()
    print(step_table(results))
    print()
    print(products_table(results))
    if any("throughput" in r for r in results):
        print()
        print(throughput_table(results))
    if any("sklearn_ms" in r for r in results):
        print("\nscikit-learn: MLPClassifier(solver='sgd', momentum=0, alpha=0, batch_size=m), "
              "fit(max_iter=k, warm_start=True) per block; one step from the same weights checked against numpy:")
        for r in results:
            if "sklearn_check" in r:
                c = r["sklearn_check"]
                print(f"  {r['workload']} {r['dtype']}: same step {c['same_step_as_numpy']}, weights {', '.join(c['dtypes'])}")
    print(f"\nload average at the end: {', '.join(map(str, load_average()))}")
    print("ratio: of the medians; paired ratio: the median over rounds of framework/numpy (framework/torch) within a "
          "round (robust to slow drifts of the machine's speed); min-max: of the per-step times over the rounds, in ms.")
    if args.torch:
        print("torch: nn.Linear/ReLU/Sigmoid/BCELoss with the same weights and data, zero_grad + forward + loss + "
              "backward + `p -= lr * p.grad` under no_grad, intra-op threads = numpy's BLAS threads; its loss and "
              "gradients were checked against numpy's (np.allclose) before timing. torch uses its own BLAS (see "
              "above), not numpy's.")
    print("products: the step's matrix products alone (x W, xᵀ g, g Wᵀ into preallocated outputs, on arrays of the "
          "step's shapes), timed in the same rounds; numpy's in the faster of a @ b and bᵀ aᵀ, torch's in nn.Linear's "
          "layout. A step on the same BLAS cannot take less than its products.")
    print("others' CPU %: the share of all CPUs that other processes used during the timed blocks kept (from "
          f"/proc/stat); rounds above {100 * args.max_other_load:.0f}% were redone (at most 2 x rounds): BLAS threads "
          "slow down a lot when they share the CPUs.")
    for workload in WORKLOADS:
        if workload.throughput and any(r["workload"] == workload.name for r in results):
            print(flops_footnote(workload))
    if args.json:
        write_json(args.json, {"benchmark": "step_time", "environment": env, "settings": vars(args), "results": results})


if __name__ == "__main__":
    main()
