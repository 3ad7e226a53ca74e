"""Time the learner's checks on a 12288-4-3-1 network written the course's way (64 x 64 RGB images).

The network: W1 (4, 12288), b1 (4, 1), ..., ReLU, ReLU, sigmoid, zero biases, He weights; X (12288, 209)
standard normal, Y (1, 209) of 0/1 (seeded), its cost and backprop written in numpy as the course
writes them. Timed: check_backprop (every dW, db, dZ, dA), and check_function in its default mode
(every entry of tensors up to 4,096 entries, 32 sampled entries of W1's 49,152) and, with --full, at
every one of the 49,175 entries (a cost call each: minutes), by the complex step (the method "auto"
picks for this cost) and, with --full-central, by central differences (4 cost calls an entry).

    python benchmarks/learner_time.py
    python benchmarks/learner_time.py --sizes 12288,20,7,5,1  # the course's deep network
    python benchmarks/learner_time.py --full --full-central   # adds many minutes
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import describe, environment, load_average, markdown_table, timed_runs  # noqa: E402

from framework import Array, check_backprop, check_function  # noqa: E402

SIZES = (12288, 4, 3, 1)
M = 209


def course_network(seed: int = 0, sizes: tuple[int, ...] = SIZES) -> tuple[dict[str, Array], Array, Array]:
    rng = np.random.default_rng(seed)
    parameters: dict[str, Array] = {}
    for l in range(1, len(sizes)):
        parameters[f"W{l}"] = rng.standard_normal((sizes[l], sizes[l - 1])) * np.sqrt(2 / sizes[l - 1])
        parameters[f"b{l}"] = np.zeros((sizes[l], 1))
    return parameters, rng.standard_normal((sizes[0], M)), rng.integers(0, 2, (1, M)).astype(np.float64)


def forward(X: Array, parameters: Mapping[str, Array]) -> tuple[Array, list[tuple[Array, Array]]]:
    A, caches, L = X, [], len(parameters) // 2
    for l in range(1, L + 1):
        Z = np.dot(parameters[f"W{l}"], A) + parameters[f"b{l}"]
        caches.append((A, Z))
        A = np.maximum(0, Z) if l < L else 1 / (1 + np.exp(-Z))
    return A, caches


def backward(AL: Array, Y: Array, caches: list[tuple[Array, Array]], parameters: Mapping[str, Array]) -> dict[str, Array]:
    m, L, grads = Y.shape[1], len(caches), {}
    dA = -(np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))
    grads[f"dA{L}"] = dA
    for l in range(L, 0, -1):
        A_prev, Z = caches[l - 1]
        dZ = dA * AL * (1 - AL) if l == L else dA * (Z > 0)
        grads[f"dZ{l}"], grads[f"dW{l}"] = dZ, 1 / m * np.dot(dZ, A_prev.T)
        grads[f"db{l}"] = 1 / m * np.sum(dZ, axis=1, keepdims=True)
        dA = grads[f"dA{l - 1}"] = np.dot(parameters[f"W{l}"].T, dZ)
    return grads


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--full", action="store_true", help="also check every entry by the complex step (minutes)")
    parser.add_argument("--full-central", action="store_true", help="also every entry by central differences")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)),
                        help="the layer sizes, such as 12288,20,7,5,1 (the course's deep network)")
    args = parser.parse_args(argv)
    sizes = tuple(int(n) for n in args.sizes.split(","))
    print(describe(environment()))
    parameters, X, Y = course_network(sizes=sizes)
    activations = ["relu"] * (len(sizes) - 2) + ["sigmoid"]
    AL, caches = forward(X, parameters)
    grads = backward(AL, Y, caches, parameters)

    def cost(p: Mapping[str, Array]) -> Array:
        AL, _ = forward(X, p)
        value: Array = np.squeeze(-np.sum(Y * np.log(AL) + (1 - Y) * np.log(1 - AL)) / M)
        return value

    runs: list[tuple[str, Callable[[], Any], int]] = [
        (f"check_backprop, every key ({len(grads)})", lambda: check_backprop(parameters, grads, X, Y, activations),
         args.repeat),
        (f"check_function, mode='auto' (W1 sampled: 32 of {parameters['W1'].size:,} entries)", lambda: check_function(cost, parameters, grads),
         args.repeat),
        ("check_function, mode='auto', method='central'",
         lambda: check_function(cost, parameters, grads, method="central"), args.repeat),
    ]
    if args.full:
        entries = sum(p.size for p in parameters.values())
        runs.append((f"check_function, mode='full' ({entries:,} entries)",
                     lambda: check_function(cost, parameters, grads, mode="full"), 1))
    if args.full_central:
        runs.append(("check_function, mode='full', method='central'",
                     lambda: check_function(cost, parameters, grads, mode="full", method="central"), 1))
    rows = []
    for name, run, repeat in runs:
        timed = timed_runs(run, repeat, None)
        report = timed.last
        method = getattr(report, "method", "twin")
        calls = getattr(report, "calls", 0)
        worst = max(r.relative_error for r in report.rows)
        print(f"{name}: {statistics.median(timed.seconds):.3f} s, passed={report.passed}", flush=True)
        rows.append([name, f"{statistics.median(timed.seconds):.3f} s", method, f"{calls:,}", f"{worst:.1e}",
                     str(report.passed)])
    print(markdown_table(["check", "median time", "method", "cost calls", "worst rel. error", "passed"], rows,
                         [False, True, False, True, True, False]))
    print(f"load average at the end: {load_average()}")


if __name__ == "__main__":
    main()
