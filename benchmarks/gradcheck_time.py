"""Time `check_gradients` on the 12288-4-3-1 model, and on the 4-3-1 model at the digits' size.

12288-4-3-1 (49,175 parameters), m = 209 standard-normal float64 inputs, labels 0/1 (seeded):
full mode (every entry), sampled mode (16 entries a tensor) and directional mode (8 directions a
tensor), complex step, with localize=False and localize=True. 4-3-1 (279 parameters) on 1797 x 64
(the size of scikit-learn's digits): full mode, complex step and central differences, localize=False
and True.

Each configuration is timed --repeat times (median).

    python benchmarks/gradcheck_time.py
    python benchmarks/gradcheck_time.py --json gradcheck.json
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import OtherLoad, describe, environment, load_average, markdown_table, write_json  # noqa: E402

from framework import BCELoss, GradCheckReport, Sequential, check_gradients  # noqa: E402
from models import four_three_one  # noqa: E402

Method = Literal["complex", "central"]
Mode = Literal["full", "sampled", "directional"]
Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Problem:
    name: str
    n_features: int
    batch: int

    def model(self) -> Sequential:
        return four_three_one(self.n_features, seed=0)

    def data(self) -> tuple[Floats, Floats]:
        rng = np.random.default_rng(0)
        x = rng.standard_normal((self.batch, self.n_features))
        y = rng.integers(0, 2, (self.batch, 1)).astype(np.float64)
        return x, y


WIDE = Problem("12288-4-3-1, m = 209", 12288, 209)
DIGITS = Problem("4-3-1, 1797 x 64", 64, 1797)


@dataclass(frozen=True)
class Config:
    problem: Problem
    method: Method
    mode: Mode
    samples: int
    localize: bool

    @property
    def mode_label(self) -> str:
        return self.mode if self.mode == "full" else f"{self.mode} ({self.samples})"


@dataclass
class Result:
    problem: str
    method: str
    mode: str
    localize: bool
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
    """Time `repeat` runs; a run during which other processes used more than `max_other_load` of
    the CPUs is redone, at most 2 x `repeat` times (None: keep every run)."""
    x, y = config.problem.data()
    model = config.problem.model()
    seconds: list[float] = []
    loads: list[float] = []
    redone = 0
    meter = OtherLoad()
    report: GradCheckReport | None = None
    while len(seconds) < repeat:
        meter.start()
        start = time.perf_counter()
        report = check_gradients(model, BCELoss(), x, y, method=config.method, mode=config.mode,
                                 samples=config.samples, localize=config.localize)
        elapsed = time.perf_counter() - start
        load = meter.stop()
        if max_other_load is not None and load is not None and load > max_other_load and redone < 2 * repeat:
            redone += 1
            time.sleep(0.5)
            continue
        seconds.append(elapsed)
        if load is not None:
            loads.append(load)
    assert report is not None
    part_worst = max((p.worst_relative_error for p in report.parts), default=None) if config.localize else None
    return Result(config.problem.name, config.method, config.mode_label, config.localize, seconds, probes(report),
                  report.worst_relative_error, part_worst, report.passed, loads, redone)


def median_time(fn: Any, repeat: int = 15) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def fmt_error(e: float | None) -> str:
    return "-" if e is None else f"{e:.2e}"


def table(results: Sequence[Result]) -> str:
    header = ["model, data", "method", "mode", "localize", "time s", "probes", "worst rel. error",
              "worst rel. error of parts", "passed", "others' CPU % max"]
    rows = [
        [r.problem, r.method, r.mode, str(r.localize), f"{r.median_s:.3g}" if r.median_s < 100 else f"{r.median_s:.0f}",
         f"{r.probes:,}",
         fmt_error(r.worst_relative_error), fmt_error(r.worst_part_relative_error), str(r.passed),
         (f"{100 * max(r.other_load):.0f}" if r.other_load else "?") + (f" ({r.redone} redone)" if r.redone else "")]
        for r in results
    ]
    return markdown_table(header, rows, [False, False, False, False, True, True, True, True, False, True])


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each configuration (median; default 3)")
    parser.add_argument("--max-other-load", type=float, default=0.1, metavar="FRACTION",
                        help="redo a timed run during which other processes used more than this share of the CPUs "
                             "(default 0.1; at most 2 x repeat are redone)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)

    env = environment()
    print(describe(env))

    partial: tuple[tuple[Mode, int], ...] = (("full", 0), ("sampled", 16), ("directional", 8))
    configs = [Config(WIDE, "complex", mode, samples, localize) for mode, samples in partial for localize in (False, True)]
    configs += [Config(DIGITS, method, "full", 0, localize) for method in ("complex", "central")
                for localize in (False, True)]
    results = []
    for config in configs:
        results.append(run(config, args.repeat, args.max_other_load))
        print(f"  {results[-1].problem}, {config.method}, {config.mode_label}, localize={config.localize}: "
              f"{results[-1].median_s:.3g} s", flush=True)
    print()
    print(table(results))
    print(f"\nload average at the end: {', '.join(map(str, load_average()))}")
    print("others' CPU %: the share of all CPUs that other processes used during a timed run (from /proc/stat); "
          f"runs above {100 * args.max_other_load:.0f}% were redone.")
    print("probes: numerical derivatives taken (entries, or directions in directional mode), the parts included; "
          "worst rel. error: report.worst_relative_error (the model's rows); of parts: each layer and the loss "
          "checked on its own (localize=True).")
    if args.json:
        payload = {
            "benchmark": "gradcheck_time", "environment": env, "settings": vars(args),
            "results": [asdict(r) | {"median_s": r.median_s} for r in results],
        }
        write_json(args.json, payload)


if __name__ == "__main__":
    main()
