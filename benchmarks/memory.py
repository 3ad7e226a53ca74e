"""Peak memory of one training step, the framework against the same math written by hand in numpy.

A step is forward, BCE loss, backward and the update `p -= lr * grad`: `FrameworkTrainer.step` and
`NumpyMLP.step`, imported from step_time.py (the same code that it times, and whose loss and
gradients it checks against each other; `verify` runs here too). The workloads and dtypes are
step_time.py's.

Measured with tracemalloc, which sees every array numpy allocates (numpy reports its data buffers
to it) and every Python object, but not what a BLAS allocates for itself (OpenBLAS's fixed work
buffers). For each workload and dtype, the model, the hand-written numpy's copy of its weights and
the data are allocated first, and each takes a warm-up step; then, --repeat times, one step of each
(alternating) is measured: the peak of traced memory during the step above the traced memory just
before it (tracemalloc.reset_peak), and what the step left allocated. Between steps the framework
keeps each parameter's gradient (allocated once, by the model) and its SGD's scratch buffer (one
parameter's size), the numpy version keeps none: the "with state" columns add the parameters (and,
for the framework, the gradients and the scratch) to the peak.

    python benchmarks/memory.py
    python benchmarks/memory.py --json memory.json
"""

from __future__ import annotations

import argparse
import gc
import sys
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import describe, environment, markdown_table, write_json  # noqa: E402
from step_time import DTYPES, LR, WORKLOADS, FrameworkTrainer, NumpyMLP, Workload, dense_weights, verify  # noqa: E402

MB = 1e6


@dataclass
class StepMemory:
    """Bytes, over the measured steps: the largest peak and the largest amount left allocated."""

    peak: int
    retained: int
    peaks: list[int]
    """Each measured step's peak: they should be equal (a step allocates the same arrays every time)."""


@dataclass
class Row:
    workload: str
    dtype: str
    data_bytes: int
    """X and Y, allocated before and shared by both."""
    numpy_state_bytes: int
    """The hand-written numpy's weights."""
    framework_state_bytes: int
    """The framework's parameters and their gradients."""
    numpy: StepMemory
    framework: StepMemory

    @property
    def ratio(self) -> float:
        return self.framework.peak / self.numpy.peak

    @property
    def ratio_with_state(self) -> float:
        return (self.framework.peak + self.framework_state_bytes) / (self.numpy.peak + self.numpy_state_bytes)


def one_step(step: Callable[[], object]) -> tuple[int, int]:
    """(peak above the start, bytes left allocated) of traced memory over one call of `step`."""
    gc.collect()
    tracemalloc.reset_peak()
    before, _ = tracemalloc.get_traced_memory()
    step()
    after, peak = tracemalloc.get_traced_memory()
    return peak - before, after - before


def measure(workload: Workload, dtype: type[np.floating[Any]], repeat: int) -> Row:
    verify(workload, dtype)  # the two compute the same loss and gradients (SystemExit otherwise)
    model = workload.build(dtype)
    X, Y = workload.data(dtype)
    reference = NumpyMLP(dense_weights(model))
    trainer = FrameworkTrainer(model, Y)
    steps: dict[str, Callable[[], object]] = {
        "numpy": lambda: reference.step(X, Y, LR),
        "framework": lambda: trainer.step(X, Y),
    }
    for step in steps.values():  # warm-up: whatever a first step allocates for good is not the step's
        step()
    measured: dict[str, list[tuple[int, int]]] = {name: [] for name in steps}
    for _ in range(repeat):
        for name, step in steps.items():
            measured[name].append(one_step(step))

    def summary(name: str) -> StepMemory:
        peaks = [p for p, _ in measured[name]]
        return StepMemory(max(peaks), max(r for _, r in measured[name]), peaks)

    return Row(
        workload.name, str(np.dtype(dtype)), X.nbytes + Y.nbytes,
        sum(a.nbytes for a in reference.arrays()),
        sum(2 * p.value.nbytes + p.grad.nbytes for p in trainer.params),
        summary("numpy"), summary("framework"),
    )


def mb(n: int) -> str:
    return f"{n / MB:.3g}"


def table(rows: Sequence[Row]) -> str:
    header = ["workload", "dtype", "numpy MB", "framework MB", "ratio framework/numpy", "numpy MB with state",
              "framework MB with state", "ratio with state", "left allocated numpy / framework kB", "data MB"]
    body = [
        [r.workload, r.dtype, mb(r.numpy.peak), mb(r.framework.peak), f"{r.ratio:.2f}",
         mb(r.numpy.peak + r.numpy_state_bytes), mb(r.framework.peak + r.framework_state_bytes),
         f"{r.ratio_with_state:.2f}", f"{r.numpy.retained / 1e3:.3g} / {r.framework.retained / 1e3:.3g}",
         mb(r.data_bytes)]
        for r in rows
    ]
    return markdown_table(header, body, [False, False, *([True] * (len(header) - 2))])


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=3, help="measured steps of each, after the warm-up (default 3)")
    parser.add_argument("--only", metavar="TEXT", help="run only the workloads whose name contains TEXT")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)

    env = environment()
    print(describe(env))
    print(f"peak traced memory (tracemalloc) of one step above the memory before it, the largest of {args.repeat} "
          "steps after a warm-up; MB = 10⁶ bytes\n", flush=True)
    tracemalloc.start()
    rows = []
    for workload in WORKLOADS:
        if args.only and args.only not in workload.name:
            continue
        for dtype in DTYPES:
            rows.append(measure(workload, dtype, args.repeat))
            r = rows[-1]
            print(f"  {r.workload} {r.dtype}: numpy {mb(r.numpy.peak)} MB, framework {mb(r.framework.peak)} MB",
                  flush=True)
    tracemalloc.stop()
    print()
    print(table(rows))
    print("\nMB: the peak of traced memory during one step (forward, loss, backward, update) above the traced memory "
          "before it: the step's temporaries. with state: plus what each keeps between steps, the weights "
          "(numpy) or the parameters, their gradients and the SGD scratch (framework). left allocated: traced "
          "memory after the step minus before it, in kB (about 1 kB of Python objects: the step leaks no array; "
          "what it reuses, the SGD scratch and Dense's vector of ones, was made in the warm-up). data: X and Y, "
          "allocated before, shared, in neither column. BLAS work buffers are not traced.")
    unsteady = [f"{r.workload} {r.dtype}" for r in rows if len(set(r.numpy.peaks)) > 1 or len(set(r.framework.peaks)) > 1]
    if unsteady:
        print(f"the peaks varied between the measured steps for: {', '.join(unsteady)} (the largest is shown)")
    if args.json:
        payload = {
            "benchmark": "memory", "environment": env, "settings": vars(args),
            "results": [asdict(r) | {"ratio": r.ratio, "ratio_with_state": r.ratio_with_state} for r in rows],
        }
        write_json(args.json, payload)


if __name__ == "__main__":
    main()
