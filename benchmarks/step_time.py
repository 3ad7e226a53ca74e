"""Time one training step of the framework against the same math written by hand in numpy.

A step is forward, BCE loss, backward and a plain gradient-descent update `p.value -= lr * p.grad`.
The hand-written version is batch-first (X is (m, n), W is (n_in, n_out)), uses a stable sigmoid,
the mean BCE and dL/dz = (a - y) / m, and does not compute dL/dX for the first layer (nor does the
framework's `Sequential.backward`). Before timing a workload, both compute the loss and the
gradients on the same weights and must agree (np.allclose): the comparison is of the same math.

Contenders run in one process, alternating (numpy, framework[, scikit-learn]) in every round; a
round times a block of steps of each (about --block seconds), after a warm-up. The table gives the
median over the rounds of the time per step.

    python benchmarks/step_time.py             # default: 15 rounds
    python benchmarks/step_time.py --quick     # smoke run
    python benchmarks/step_time.py --json out.json
"""

from __future__ import annotations

import argparse
import gc
import math
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import OtherLoad, describe, environment, load_average, markdown_table, write_json  # noqa: E402

from framework import Array, BCELoss, Dense, Sequential  # noqa: E402
from models import four_three_one, mlp_classifier  # noqa: E402

FloatArray = Array  # float32 or float64 here
LR = 0.01


@dataclass(frozen=True)
class Workload:
    name: str
    n_features: int
    hidden: tuple[int, ...]
    batch: int

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
    Workload("784-1024-1024-1, m = 256", 784, (1024, 1024), 256),
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
    def __init__(self, model: Sequential) -> None:
        self.model = model
        self.loss = BCELoss()
        self.params = model.parameters()

    def loss_and_grads(self, X: FloatArray, Y: FloatArray) -> tuple[float, list[FloatArray]]:
        value = self.loss.forward(self.model.forward(X), Y)
        self.model.backward(self.loss.backward())
        assert isinstance(value, float)
        return value, [p.grad for p in self.params]

    def step(self, X: FloatArray, Y: FloatArray, lr: float) -> float:
        value, _ = self.loss_and_grads(X, Y)
        for p in self.params:
            p.value -= lr * p.grad  # type: ignore[arg-type]  # numpy's stubs: inexact -= inexact
        return value


def dense_weights(model: Sequential) -> list[tuple[FloatArray, FloatArray]]:
    return [(layer.W.value.copy(), layer.b.value.copy()) for layer in model.layers if isinstance(layer, Dense)]


def tolerances(dtype: type[np.floating[Any]]) -> tuple[float, float]:
    """(rtol, atol relative to the largest |gradient|) for np.allclose."""
    return (1e-9, 1e-12) if dtype == np.float64 else (1e-3, 1e-5)


def verify(workload: Workload, dtype: type[np.floating[Any]]) -> dict[str, Any]:
    """Loss and gradients of the framework and of the hand-written numpy, at the same weights."""
    model = workload.build(dtype)
    X, Y = workload.data(dtype)
    reference = NumpyMLP(dense_weights(model))
    np_loss, np_grads = reference.loss_and_grads(X, Y)
    fw_loss, fw_grads = FrameworkTrainer(model).loss_and_grads(X, Y)
    expected = [g for pair in np_grads for g in pair]
    rtol, atol = tolerances(dtype)
    scale = max(float(np.abs(g).max()) for g in expected)
    worst = max(
        float(np.linalg.norm(f.astype(np.float64) - e) / max(float(np.linalg.norm(e)), 1e-300))
        for f, e in zip(fw_grads, expected)
    )
    ok = math.isclose(fw_loss, np_loss, rel_tol=rtol) and all(
        f.shape == e.shape and f.dtype == e.dtype == dtype and np.allclose(f, e, rtol=rtol, atol=atol * scale)
        for f, e in zip(fw_grads, expected)
    )
    if not ok:
        raise SystemExit(
            f"{workload.name} {np.dtype(dtype)}: the framework and numpy disagree (loss {fw_loss!r} vs {np_loss!r}, "
            f"worst relative gradient difference {worst:.3g}): not the same math, nothing timed"
        )
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
    trainer = FrameworkTrainer(model)
    contenders: list[Contender] = [
        Steps("numpy", lambda: reference.step(X, Y, LR)),
        Steps("framework", lambda: trainer.step(X, Y, LR)),
    ]
    sklearn_check: dict[str, Any] | None = None
    if not args.no_sklearn:
        made = make_sklearn(workload, dtype, weights)
        if made is not None:
            contenders.append(made[0])
            sklearn_check = made[1]
    timings, redone = time_rounds(contenders, args.rounds, args.block, args.max_other_load)
    check_dtype(dtype, trainer, reference, X)
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
    if "scikit-learn" in by_name:
        result["sklearn_ms"] = by_name["scikit-learn"].median_ms
        result["sklearn_check"] = sklearn_check
    return result


def spread(result: dict[str, Any], name: str) -> str:
    samples = next(t["per_step_s"] for t in result["timings"] if t["name"] == name)
    return f"{min(samples) * 1e3:.3g}-{max(samples) * 1e3:.3g}"


def others(result: dict[str, Any]) -> str:
    load = result["other_load"]
    shown = f"{100 * statistics.median(load):.0f}/{100 * max(load):.0f}" if load else "?"
    return shown + (f" ({result['rounds_redone']} redone)" if result["rounds_redone"] else "")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds per workload (default 15; 3 with --quick)")
    parser.add_argument("--block", type=float, default=None, help="seconds per timed block (default 0.25; 0.05 with --quick)")
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds: a smoke run")
    parser.add_argument("--no-sklearn", action="store_true", help="leave scikit-learn out even when installed")
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
            print(f"  {workload.name} {result['dtype']}: numpy {result['numpy_ms']:.4g} ms, framework "
                  f"{result['framework_ms']:.4g} ms (verified: gradients agree to "
                  f"{result['verified']['worst_relative_grad_difference']:.1e})", flush=True)
    have_sklearn = any("sklearn_ms" in r for r in results)
    header = ["workload", "dtype", "numpy ms/step", "framework ms/step", "ratio framework/numpy", "paired ratio"]
    if have_sklearn:
        header.append("scikit-learn ms/iter")
    header += ["numpy min-max", "framework min-max", "others' CPU % median/max"]
    rows = []
    for r in results:
        row = [r["workload"], r["dtype"], f"{r['numpy_ms']:.4g}", f"{r['framework_ms']:.4g}", f"{r['ratio']:.2f}",
               f"{r['paired_ratio']:.2f}"]
        if have_sklearn:
            row.append(f"{r['sklearn_ms']:.4g}" if "sklearn_ms" in r else "-")
        row += [spread(r, "numpy"), spread(r, "framework"), others(r)]
        rows.append(row)
    print()
    print(markdown_table(header, rows, [False, False, *([True] * (len(header) - 2))]))
    if have_sklearn:
        print("\nscikit-learn: MLPClassifier(solver='sgd', momentum=0, alpha=0, batch_size=m), "
              "fit(max_iter=k, warm_start=True) per block; one step from the same weights checked against numpy:")
        for r in results:
            if "sklearn_check" in r:
                c = r["sklearn_check"]
                print(f"  {r['workload']} {r['dtype']}: same step {c['same_step_as_numpy']}, weights {', '.join(c['dtypes'])}")
    print(f"\nload average at the end: {', '.join(map(str, load_average()))}")
    print("ratio: of the medians; paired ratio: the median over rounds of framework/numpy within a round (robust to "
          "slow drifts of the machine's speed); min-max: of the per-step times over the rounds, in ms.")
    print("others' CPU %: the share of all CPUs that other processes used during the timed blocks kept (from "
          f"/proc/stat); rounds above {100 * args.max_other_load:.0f}% were redone (at most 2 x rounds): BLAS threads "
          "slow down a lot when they share the CPUs.")
    if args.json:
        write_json(args.json, {"benchmark": "step_time", "environment": env, "settings": vars(args), "results": results})


if __name__ == "__main__":
    main()
