"""Time `check_gradients` on the 12288-4-3-1 model, on the 4-3-1 model at the digits' size, and on a
residual graph `Model`.

12288-4-3-1 (49,175 parameters), m = 209 standard-normal float64 inputs, labels 0/1 (seeded):
full mode (every entry), sampled mode (16 entries a tensor) and directional mode (8 directions a
tensor), complex step, with localize=False and localize=True. 4-3-1 (279 parameters) on 1797 x 64
(the size of scikit-learn's digits): full mode, complex step and central differences, and directional
mode (8 directions a tensor), localize=False and True. The residual graph (8,385 parameters): Input(64)
-> Dense(64, 64) -> ReLU -> Dense(64, 64), added to the input by Add -> Dense(64, 1) -> Sigmoid, m = 64:
full and sampled mode (16 entries a tensor), complex step, localize=False and True. A small convnet
(205 parameters) on 16 standard-normal 8 x 8 x 1 images: Conv2D 3x3x4 "same" -> ReLU -> MaxPool2D 2,
twice, then Flatten -> Dense(16, 1) -> Sigmoid: full mode by both methods, localize=False and True.

When PyTorch is installed (an optional peer, not a dependency), torch.autograd.gradcheck checks the
4-3-1 models and the convnet in float64, same weights and data, as a function of the flattened
parameters (each layer's W, in the framework's layout, then b) that returns the mean BCE: slow mode
(fast_mode=False: central differences for every parameter, the whole Jacobian) and fast mode
(fast_mode=True: one random direction). Before it is timed, the function's loss and autograd
gradient must agree with the framework's (np.allclose). The slow check of the 12288-4-3-1 model
takes minutes (167 s measured): it runs only with --torch-slow-12288.

The complex step's full check of the 12288-4-3-1, 4-3-1 and convnet models (localize=False) is also
timed one probe at a time (probes_at_once=1, the per-entry path), against the stacked default; and
each check is given in training steps of its model (forward, loss, backward, SGD update, whole batch).

Each configuration is timed --repeat times (median); torch's slow 12288-4-3-1 check once.

    python benchmarks/gradcheck_time.py
    python benchmarks/gradcheck_time.py --torch-slow-12288   # adds minutes
    python benchmarks/gradcheck_time.py --no-torch           # leave PyTorch out even when installed
    python benchmarks/gradcheck_time.py --json gradcheck.json
    python benchmarks/gradcheck_time.py --problems residual  # only the residual graph
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import describe, environment, load_average, load_torch, markdown_table, timed_runs, write_json  # noqa: E402

from framework import (  # noqa: E402
    Add, BCELoss, Conv2D, Dense, Flatten, GradCheckReport, Input, Layer, MaxPool2D, Model, ReLU, Sequential, Sigmoid,
    check_gradients,
)
from models import four_three_one  # noqa: E402

if TYPE_CHECKING:
    import torch

Method = Literal["complex", "central"]
Mode = Literal["full", "sampled", "directional"]
Floats = npt.NDArray[np.float64]


def residual(n_features: int, seed: int = 0) -> Model:
    """Input -> Dense -> ReLU -> Dense, added to the input -> Dense(1) -> Sigmoid."""
    x = Input(n_features)
    block = Dense(n_features, n_features, seed=seed + 1)(ReLU()(Dense(n_features, n_features, seed=seed)(x)))
    return Model(x, Sigmoid()(Dense(n_features, 1, seed=seed + 2)(Add()([x, block]))))


def small_convnet(input_shape: tuple[int, ...], seed: int = 0) -> Sequential:
    """(Conv2D 3x3x4 "same" -> ReLU -> MaxPool2D 2) twice -> Flatten -> Dense(-> 1) -> Sigmoid."""
    h, w, _ = input_shape
    return Sequential([Input(input_shape), Conv2D(4, 3, padding="same", seed=seed), ReLU(), MaxPool2D(2),
                       Conv2D(4, 3, padding="same", seed=seed + 1), ReLU(), MaxPool2D(2), Flatten(),
                       Dense(4 * (h // 4) * (w // 4), 1, seed=seed + 2), Sigmoid()])


def _four_three_one(input_shape: tuple[int, ...]) -> Sequential:
    return four_three_one(input_shape[0])


def _residual(input_shape: tuple[int, ...]) -> Model:
    return residual(input_shape[0])


@dataclass(frozen=True)
class Problem:
    name: str
    input_shape: tuple[int, ...]
    """A sample's shape: (features,), or an image's (H, W, C)."""
    batch: int
    build: Callable[[tuple[int, ...]], Sequential | Model] = _four_three_one

    def model(self) -> Sequential | Model:
        return self.build(self.input_shape)

    def data(self) -> tuple[Floats, Floats]:
        rng = np.random.default_rng(0)
        x = rng.standard_normal((self.batch, *self.input_shape))
        y = rng.integers(0, 2, (self.batch, 1)).astype(np.float64)
        return x, y


WIDE = Problem("12288-4-3-1, m = 209", (12288,), 209)
DIGITS = Problem("4-3-1, 1797 x 64", (64,), 1797)
RESIDUAL = Problem("residual graph 64, m = 64", (64,), 64, _residual)
CONVNET = Problem("convnet 8x8x1 (205 parameters), m = 16", (8, 8, 1), 16, small_convnet)


@dataclass(frozen=True)
class Config:
    problem: Problem
    method: Method
    mode: Mode
    samples: int
    localize: bool
    probes_at_once: int | None = None
    """None: stacked (the checker's choice of K); 1: the per-entry path, one probe at a time."""

    @property
    def path(self) -> str:
        if self.method == "central":
            return "-"  # central differences run the whole forward a probe
        return "stacked" if self.probes_at_once is None else f"{self.probes_at_once} at once"

    @property
    def mode_label(self) -> str:
        return self.mode if self.mode == "full" else f"{self.mode} ({self.samples})"


@dataclass
class Result:
    problem: str
    method: str
    mode: str
    localize: bool
    path: str
    seconds: list[float]
    probes: int
    """Numerical derivatives taken: entries or directions, over the model's rows and its parts."""
    worst_relative_error: float
    """report.worst_relative_error: the model's own rows."""
    worst_part_relative_error: float | None
    """The worst over the parts (each layer and the loss on its own), with localize=True."""
    passed: bool
    other_load: list[float]
    """The share of all CPUs that other processes used during each timed run kept."""
    redone: int

    @property
    def median_s(self) -> float:
        return statistics.median(self.seconds)


def probes(report: GradCheckReport) -> int:
    return sum(r.checked for r in report.rows) + sum(probes(p) for p in report.parts)


def run(config: Config, repeat: int, max_other_load: float | None) -> Result:
    """Time `repeat` runs, redoing those under load (see `timed_runs`)."""
    x, y = config.problem.data()
    model = config.problem.model()
    timed = timed_runs(lambda: check_gradients(model, BCELoss(), x, y, method=config.method, mode=config.mode,
                                               samples=config.samples, localize=config.localize,
                                               probes_at_once=config.probes_at_once),
                       repeat, max_other_load)
    report = timed.last
    part_worst = max((p.worst_relative_error for p in report.parts), default=None) if config.localize else None
    return Result(config.problem.name, config.method, config.mode_label, config.localize, config.path, timed.seconds,
                  probes(report), report.worst_relative_error, part_worst, report.passed, timed.other_load,
                  timed.redone)


@dataclass
class TorchResult:
    problem: str
    fast_mode: bool
    seconds: list[float] = field(default_factory=list)
    passed: bool | None = None
    """None when the check was skipped."""
    failure: str = ""
    """gradcheck's message when it did not pass (its first line), or why the check was skipped."""
    other_load: list[float] = field(default_factory=list)
    redone: int = 0

    @property
    def mode(self) -> str:
        return "fast_mode=True" if self.fast_mode else "fast_mode=False (slow)"

    @property
    def median_s(self) -> float | None:
        return statistics.median(self.seconds) if self.seconds else None


def torch_layer(layer: Layer, theta: "torch.Tensor", offset: int) -> tuple[Callable[["torch.Tensor"], "torch.Tensor"], int]:
    """The torch function of one of the framework's layers (channels-last tensors), its parameters
    views of `theta` from `offset` (W in the framework's layout, then b), and the offset after them."""
    import torch

    F = torch.nn.functional
    if isinstance(layer, Dense | Conv2D):
        shape = layer.W.value.shape
        W = theta[offset:offset + math.prod(shape)].view(*shape)
        end = offset + math.prod(shape) + shape[-1]
        b = theta[offset + math.prod(shape):end]
        if isinstance(layer, Dense):
            return (lambda h: torch.addmm(b, h, W)), end  # x W + b
        assert layer.strides == (1, 1) and layer.kernel_size[0] % 2 == 1 and layer.kernel_size[1] % 2 == 1
        same = layer.padding == "same"  # an odd kernel at stride 1: torch's symmetric padding is Keras' "same"
        padding = (layer.kernel_size[0] // 2, layer.kernel_size[1] // 2) if same else (0, 0)
        return (lambda h: F.conv2d(h.permute(0, 3, 1, 2), W.permute(3, 2, 0, 1), b, padding=padding)
                .permute(0, 2, 3, 1)), end
    if isinstance(layer, MaxPool2D):
        assert layer.padding == "valid"
        return (lambda h: F.max_pool2d(h.permute(0, 3, 1, 2), layer.pool_size, layer.strides)
                .permute(0, 2, 3, 1)), offset
    functions: dict[type, Callable[["torch.Tensor"], "torch.Tensor"]] = {
        ReLU: torch.relu, Sigmoid: torch.sigmoid, Flatten: lambda h: h.reshape(len(h), -1)}  # channels-last order
    return functions[type(layer)], offset


def torch_loss(problem: Problem) -> tuple[Callable[["torch.Tensor"], "torch.Tensor"], "torch.Tensor"]:
    """The framework model's mean BCE as a torch function of its flattened parameters, and the
    parameters (float64, requires_grad): each layer as `torch_layer` makes it. Before returning, its
    loss and autograd gradient are checked against the framework's (SystemExit if they differ)."""
    import torch

    model = problem.model()
    assert isinstance(model, Sequential)
    x, y = problem.data()
    X, Y = torch.from_numpy(x), torch.from_numpy(y)

    def loss(theta: torch.Tensor) -> torch.Tensor:
        h, offset = X, 0
        for layer in model.layers:
            f, offset = torch_layer(layer, theta, offset)
            h = f(h)
        return torch.nn.functional.binary_cross_entropy(h, Y)  # the mean

    flat = np.concatenate([p.value.ravel() for p in model.parameters()])
    theta = torch.from_numpy(flat).requires_grad_()
    value = loss(theta)
    (grad,) = torch.autograd.grad(value, theta)
    bce = BCELoss()
    fw_loss = bce.forward(model.forward(x), y)
    model.backward(bce.backward())
    fw_grad = np.concatenate([p.grad.ravel() for p in model.parameters()])
    if not (math.isclose(float(value.item()), float(fw_loss.real), rel_tol=1e-9)
            and np.allclose(grad.numpy(), fw_grad, rtol=1e-9, atol=1e-12 * float(np.abs(fw_grad).max()))):
        raise SystemExit(f"{problem.name}: torch's loss or gradient differs from the framework's: not the same "
                         "function, nothing timed")
    return loss, theta


def run_torch(problem: Problem, fast_mode: bool, repeat: int, max_other_load: float | None) -> TorchResult:
    """Time torch.autograd.gradcheck (default eps, atol, rtol) `repeat` times, redoing runs under
    load as `run` does."""
    import torch
    from torch.autograd.gradcheck import GradcheckError  # the module, not the function torch.autograd exports

    loss, theta = torch_loss(problem)

    def check() -> tuple[bool, str]:
        try:
            torch.autograd.gradcheck(loss, (theta,), fast_mode=fast_mode)
        except GradcheckError as e:
            return False, str(e).strip().splitlines()[0]
        return True, ""

    timed = timed_runs(check, repeat, max_other_load)
    passed, failure = timed.last
    return TorchResult(problem.name, fast_mode, timed.seconds, passed, failure, timed.other_load, timed.redone)


COUNTERPARTS: dict[bool, tuple[tuple[str, str], ...]] = {
    False: (("complex", "full"), ("central", "full")),  # torch's slow mode: every parameter, numerically
    True: (("complex", "directional (8)"),),  # torch's fast mode: random directions
}
"""For torch's slow and fast modes, the framework configurations (method, mode; localize=False) to compare with."""


def torch_table(torch_results: Sequence[TorchResult], results: Sequence[Result]) -> str:
    header = ["model, data", "torch gradcheck", "time s", "passed", "framework counterpart (localize=False)",
              "framework time s", "ratio framework/torch"]
    rows = []
    for t in torch_results:
        passed = ("skipped" if t.passed is None else str(t.passed)) + (f" ({t.failure})" if t.failure else "")
        time_s = "-" if t.median_s is None else fmt_seconds(t.median_s)
        matches: list[Result | None] = [r for method, mode in COUNTERPARTS[t.fast_mode] for r in results
                   if (r.problem, r.method, r.mode, r.localize) == (t.problem, method, mode, False)]
        for r in matches or [None]:
            ratio = "-" if r is None or t.median_s is None else f"{r.median_s / t.median_s:.3g}"
            rows.append([t.problem, t.mode, time_s, passed, "-" if r is None else f"{r.mode}, {r.method}",
                         "-" if r is None else fmt_seconds(r.median_s), ratio])
    return markdown_table(header, rows, [False, False, True, False, False, True, True])


def fmt_seconds(s: float) -> str:
    return f"{s:.3g}" if s < 100 else f"{s:.0f}"


def fmt_error(e: float | None) -> str:
    return "-" if e is None else f"{e:.2e}"


def table(results: Sequence[Result], steps: dict[str, float]) -> str:
    header = ["model, data", "method", "mode", "localize", "probes at once", "time s", "training steps",
              "probes", "worst rel. error", "worst rel. error of parts", "passed", "others' CPU % max"]
    rows = [
        [r.problem, r.method, r.mode, str(r.localize), r.path, fmt_seconds(r.median_s),
         f"{r.median_s / steps[r.problem]:,.0f}",
         f"{r.probes:,}",
         fmt_error(r.worst_relative_error), fmt_error(r.worst_part_relative_error), str(r.passed),
         (f"{100 * max(r.other_load):.0f}" if r.other_load else "?") + (f" ({r.redone} redone)" if r.redone else "")]
        for r in results
    ]
    return markdown_table(header, rows, [False, False, False, False, False, True, True, True, True, True, False, True])


def stacking_table(results: Sequence[Result]) -> str:
    """Each configuration timed both ways: one probe at a time over stacked."""
    header = ["model, data", "method", "mode", "localize", "stacked s", "one at a time s", "one at a time / stacked"]
    rows = []
    for one in (r for r in results if r.path == "1 at once"):
        stacked = next(r for r in results if r.path == "stacked"
                       and (r.problem, r.method, r.mode, r.localize) == (one.problem, one.method, one.mode, one.localize))
        rows.append([one.problem, one.method, one.mode, str(one.localize), fmt_seconds(stacked.median_s),
                     fmt_seconds(one.median_s), f"{one.median_s / stacked.median_s:.2f}"])
    return markdown_table(header, rows, [False, False, False, False, True, True, True])


def step_seconds(problem: Problem, repeat: int) -> float:
    """The median time of one training step of the problem's model on its whole batch: forward, the
    BCE loss and its gradient, backward, and an SGD update of every parameter."""
    x, y = problem.data()
    model, loss = problem.model(), BCELoss()
    params = model.parameters()

    def step() -> None:
        loss.forward(model.forward(x), y)
        model.backward(loss.backward())
        for p in params:
            np.subtract(p.value, 0.01 * p.grad, out=p.value)

    step()
    times = []
    for _ in range(max(repeat, 5)):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each configuration (median; default 3)")
    parser.add_argument("--max-other-load", type=float, default=0.1, metavar="FRACTION",
                        help="redo a timed run during which other processes used more than this share of the CPUs "
                             "(default 0.1; at most 2 x repeat are redone)")
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch out even when installed")
    parser.add_argument("--torch-slow-12288", action="store_true",
                        help="also run torch's slow gradcheck (fast_mode=False) of the 12288-4-3-1 model: minutes")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--problems", nargs="+", choices=["wide", "digits", "residual", "convnet"],
                        default=["wide", "digits", "residual", "convnet"], help="the models to time (default: all)")
    args = parser.parse_args(argv)

    have_torch = load_torch(not args.no_torch) is not None  # before the thread pools are listed
    env = environment()
    print(describe(env))

    partial: tuple[tuple[Mode, int], ...] = (("full", 0), ("sampled", 16), ("directional", 8))
    configs = [Config(WIDE, "complex", mode, samples, localize) for mode, samples in partial for localize in (False, True)]
    configs += [Config(DIGITS, method, "full", 0, localize) for method in ("complex", "central")
                for localize in (False, True)]
    configs += [Config(DIGITS, "complex", "directional", 8, localize) for localize in (False, True)]
    configs += [Config(RESIDUAL, "complex", mode, samples, localize) for mode, samples in partial[:2]
                for localize in (False, True)]
    configs += [Config(CONVNET, method, "full", 0, localize) for method in ("complex", "central")
                for localize in (False, True)]
    chosen = {"wide": WIDE, "digits": DIGITS, "residual": RESIDUAL, "convnet": CONVNET}
    configs += [Config(problem, "complex", "full", 0, False, probes_at_once=1) for problem in (WIDE, DIGITS, CONVNET)]
    configs = [c for c in configs if c.problem in [chosen[name] for name in args.problems]]
    steps = {problem.name: step_seconds(problem, args.repeat) for problem in {c.problem for c in configs}}
    results = []
    for config in configs:
        results.append(run(config, args.repeat, args.max_other_load))
        print(f"  {results[-1].problem}, {config.method}, {config.mode_label}, localize={config.localize}, "
              f"{config.path}: {results[-1].median_s:.3g} s", flush=True)
    torch_results: list[TorchResult] = []
    if have_torch:
        for problem in [p for p in (DIGITS, WIDE, CONVNET) if p.name in {c.problem.name for c in configs}]:
            for fast_mode in (False, True):
                if problem is WIDE and not fast_mode and not args.torch_slow_12288:
                    torch_results.append(TorchResult(problem.name, fast_mode,
                                                     failure="--torch-slow-12288 runs it: minutes"))
                    print(f"  torch gradcheck {problem.name}, slow: skipped (--torch-slow-12288 runs it, for minutes)")
                    continue
                repeat = 1 if problem is WIDE and not fast_mode else args.repeat
                torch_results.append(run_torch(problem, fast_mode, repeat, args.max_other_load))
                t = torch_results[-1]
                print(f"  torch gradcheck {problem.name}, {t.mode}: {t.median_s:.3g} s, passed {t.passed}", flush=True)
    print()
    print(table(results, steps))
    print()
    print(stacking_table(results))
    if have_torch:
        print()
        print(torch_table(torch_results, results))
    print(f"\nload average at the end: {', '.join(map(str, load_average()))}")
    print("others' CPU %: the share of all CPUs that other processes used during a timed run (from /proc/stat); "
          f"runs above {100 * args.max_other_load:.0f}% were redone, at most 2 x repeat times: a maximum above "
          f"{100 * args.max_other_load:.0f}% is a run kept once that limit was reached.")
    print("probes at once: stacked, the complex step's probes K at a time through the layers after the moved tensor "
          "(the checker's default); 1 at once, one probe at a time (probes_at_once=1, the per-entry path). training "
          "steps: the check's time over one training step of the same model on the same batch (forward, BCE, "
          "backward, SGD update).")
    print("probes: numerical derivatives taken (entries, or directions in directional mode), the parts included; "
          "worst rel. error: report.worst_relative_error (the model's rows); of parts: each layer and the loss "
          "checked on its own (localize=True).")
    if have_torch:
        print("torch gradcheck: torch.autograd.gradcheck(f, (theta,), fast_mode=...) with its default eps=1e-6, "
              "atol=1e-5, rtol=1e-3, f the model's mean BCE as a function of the flattened float64 parameters "
              "(checked equal to the framework's loss and gradient first). Slow mode takes central differences for "
              "every parameter (2 forward passes each) and compares the whole Jacobian, as the framework's full mode "
              "does entry by entry; fast mode compares one random direction of all parameters at once, where the "
              "framework's directional mode takes 8 a tensor. time s: median of --repeat runs (the slow 12288-4-3-1 "
              "check: one run).")
    if args.json:
        payload = {
            "benchmark": "gradcheck_time", "environment": env, "settings": vars(args),
            "results": [asdict(r) | {"median_s": r.median_s} for r in results], "step_seconds": steps,
            "torch_results": [asdict(t) | {"median_s": t.median_s} for t in torch_results],
        }
        write_json(args.json, payload)


if __name__ == "__main__":
    main()
