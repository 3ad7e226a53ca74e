"""What the benchmark scripts share: the command line that reproduces a run, a description of the
machine (numpy, BLAS and its threads), and markdown tables."""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np

REPO = Path(__file__).resolve().parent.parent
T = TypeVar("T")
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")


def command_line() -> str:
    """The command, run from the repository root, that reproduces this run."""
    script = Path(sys.argv[0]).resolve()
    try:
        shown = str(script.relative_to(REPO))
    except ValueError:
        shown = str(script)
    settings = [f"{name}={shlex.quote(os.environ[name])}" for name in THREAD_VARIABLES if name in os.environ]
    return " ".join([*settings, shlex.join(["python", shown, *sys.argv[1:]])])


def thread_pools() -> list[dict[str, Any]]:
    """threadpoolctl's view of the BLAS and OpenMP libraries loaded so far ([] without threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_info  # type: ignore[import-untyped, unused-ignore]
    except ImportError:
        return []
    return [dict(info) for info in threadpool_info()]


def blas_threads() -> int | None:
    """The number of threads of the BLAS that numpy uses, from threadpoolctl (None when unknown):
    the BLAS that numpy's wheel ships (in numpy.libs) if loaded, else the first BLAS loaded (numpy
    is imported first; scikit-learn's scipy may bring another)."""
    pools = [p for p in thread_pools() if p.get("user_api") == "blas" and isinstance(p.get("num_threads"), int)]
    numpy_libs = Path(np.__file__).resolve().parent.parent / "numpy.libs"
    shipped = [p for p in pools if Path(str(p.get("filepath", ""))).resolve().parent == numpy_libs]
    chosen = (shipped or pools)[:1]
    return int(chosen[0]["num_threads"]) if chosen else None


def load_torch(enabled: bool = True) -> str | None:
    """Import PyTorch, an optional peer to compare with (never a dependency of the project), and
    give it as many intra-op threads as numpy's BLAS has; its version, or None when it is not
    installed (or `enabled` is False). Call it before `environment()`, so that the OpenMP runtime
    torch brings is listed among the thread pools."""
    if not enabled:
        return None
    try:
        import torch
    except ImportError:
        return None
    threads = blas_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    return str(torch.__version__)


class TorchSteps:
    """What a torch contender's step is: zero_grad, forward, loss and backward (`_forward_backward`),
    then plain SGD, `p -= lr * p.grad` under torch.no_grad(); the loss as a float, as the others give it."""

    lr: float
    params: list[Any]
    """The model's parameters (torch tensors), in the framework's order."""

    def _forward_backward(self) -> Any:
        raise NotImplementedError

    def step(self) -> float:
        import torch

        loss = self._forward_backward()
        with torch.no_grad():
            for p in self.params:
                assert p.grad is not None
                p -= self.lr * p.grad
        return float(loss.item())

    def run(self, steps: int) -> None:
        for _ in range(steps):
            self.step()

    def dtypes(self) -> set[str]:
        return {str(p.dtype).removeprefix("torch.") for p in self.params}


def torch_state() -> dict[str, Any] | None:
    """The torch that `load_torch` imported (None if none was): its version, its intra-op threads
    (next to numpy's BLAS threads, which they should equal) and the BLAS it was built with."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    settings = torch.__config__.show().replace(",", " ").split()
    blas = next((item.split("=", 1)[1] for item in settings if item.startswith("BLAS_INFO=")), "?")
    return {"version": str(torch.__version__), "intra_op_threads": int(torch.get_num_threads()),
            "numpy_blas_threads": blas_threads(), "blas": blas}


def git_state() -> dict[str, Any]:
    """The commit, and the files under framework/ and models/ that differ from it (they are being edited)."""

    def git(*args: str) -> str:
        try:
            done = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, check=False)
        except OSError:  # no git
            return ""
        return done.stdout.rstrip() if done.returncode == 0 else ""

    changed = git("status", "--porcelain", "--", "framework", "models").splitlines()  # "XY path"
    return {"commit": git("rev-parse", "--short", "HEAD") or "unknown", "changed": [line[3:] for line in changed]}


class OtherLoad:
    """How much of the machine other processes used while a block ran, from /proc/stat (Linux):
    (all CPUs' busy time - this process's CPU time) / (wall time x CPUs). BLAS threads slow down a
    lot when they share the CPUs, so a block timed under load is not a clean measurement."""

    def __init__(self) -> None:
        self._start: tuple[float, float, float] | None = None
        self.tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.cpus = os.cpu_count() or 1

    def _counters(self) -> tuple[float, float, float] | None:
        try:
            with open("/proc/stat") as f:
                fields = [float(v) for v in f.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
        busy = sum(fields[:8]) - idle  # user nice system idle iowait irq softirq steal
        t = os.times()
        return busy / self.tick, t.user + t.system, time.perf_counter()

    def start(self) -> None:
        self._start = self._counters()

    def stop(self) -> float | None:
        """The fraction (0 to 1) of all CPUs that others used since start(), or None if unknown."""
        end = self._counters()
        if self._start is None or end is None:
            return None
        busy, own, wall = (e - s for e, s in zip(end, self._start))
        return max(0.0, (busy - own) / (wall * self.cpus)) if wall > 0 else None


@dataclass
class Timed(Generic[T]):
    seconds: list[float]
    other_load: list[float]
    """The share of all CPUs that other processes used during each call kept (see OtherLoad)."""
    redone: int
    last: T
    """What the last call returned."""


def timed_runs(fn: Callable[[], T], repeat: int, max_other_load: float | None) -> Timed[T]:
    """Time `repeat` calls of `fn`; a call during which other processes used more than
    `max_other_load` of the CPUs is redone, at most 2 x `repeat` times (None: keep every call)."""
    meter = OtherLoad()
    seconds: list[float] = []
    loads: list[float] = []
    redone = 0
    while True:
        meter.start()
        start = time.perf_counter()
        last = fn()
        elapsed = time.perf_counter() - start
        load = meter.stop()
        if max_other_load is not None and load is not None and load > max_other_load and redone < 2 * repeat:
            redone += 1
            time.sleep(0.5)
            continue
        seconds.append(elapsed)
        if load is not None:
            loads.append(load)
        if len(seconds) == repeat:
            return Timed(seconds, loads, redone, last)


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages: other work on the machine slows BLAS threads down."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return []


def environment() -> dict[str, Any]:
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 0
    return {
        "command": command_line(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": f"{platform.machine()} {platform.processor() or platform.system()}".strip(),
        "cpus": cpus,
        "thread_variables": {name: os.environ[name] for name in THREAD_VARIABLES if name in os.environ},
        "thread_pools": thread_pools(),
        "git": git_state(),
        "torch": torch_state(),
        "load_average_at_start": load_average(),
    }


def describe(env: dict[str, Any]) -> str:
    """A few lines for the top of a benchmark's output."""
    pools = env["thread_pools"]
    lines = [
        f"Reproduce (from the repository root): {env['command']}",
        f"Python {env['python']}, numpy {env['numpy']}, {env['cpus']} CPUs usable, {env['machine']}",
    ]
    if pools:
        for p in pools:
            lines.append(
                f"threadpool: {p.get('user_api')} {p.get('internal_api')} {p.get('version')} "
                f"({p.get('architecture', '?')}, {p.get('threading_layer', '?')}): {p.get('num_threads')} threads "
                f"[{Path(str(p.get('filepath', '?'))).name}]"
            )
    else:
        lines.append("threadpool: threadpoolctl not installed, BLAS threads unknown")
    torch = env.get("torch")
    if torch:
        lines.append(f"torch {torch['version']} (BLAS {torch['blas']}): {torch['intra_op_threads']} intra-op threads "
                     f"(numpy's BLAS: {torch['numpy_blas_threads'] or 'unknown'})")
    else:
        lines.append("torch: not loaded (not installed, or left out): no torch columns")
    variables = env["thread_variables"]
    lines.append("thread variables: " + (", ".join(f"{k}={v}" for k, v in variables.items()) or "none set"))
    lines.append(f"load average at start: {', '.join(map(str, env['load_average_at_start']))} ({env['cpus']} CPUs)")
    changed = env["git"]["changed"]
    lines.append(f"git: {env['git']['commit']}" + (f", uncommitted changes in {', '.join(changed)}" if changed else ""))
    return "\n".join(lines)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]) -> str:
    """A markdown table with padded columns; `right[i]` right-aligns column i (numbers)."""
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows)]
    widths = [max(w, 3) for w in widths]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right)) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if r else ("-" * (w + 2)) for w, r in zip(widths, right)) + "|"
    return "\n".join([line(header), rule, *(line(row) for row in rows)])


def write_json(path: str, payload: dict[str, Any]) -> None:
    Path(path).write_text(json.dumps(payload, indent=2, default=str) + "\n")
    print(f"\nwrote {path}")
