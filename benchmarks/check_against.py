"""The 4-3-1 model's full complex-step check (1797 x 64, `localize=False`), or its training step
(`--step`: 200 steps of forward, BCE, backward and SGD, as `fit` takes them), at this checkout against
another commit, in one process, the two taken in turn: the ratio of each pair is robust to the
machine's drifts, which move both alike.

    python benchmarks/check_against.py 646ce2d --pairs 30
    python benchmarks/check_against.py HEAD~1 --step --dtype float32

The other commit is checked out into a temporary git worktree, removed at the end; both must have
`check_gradients` and `models.four_three_one`."""

import argparse
import importlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def load(root: Path) -> tuple[ModuleType, ModuleType]:
    """`framework` and `models` from `root`, imported anew (those already imported are set aside)."""
    for name in [n for n in sys.modules if n.split(".")[0] in ("framework", "models")]:
        del sys.modules[name]
    sys.path.insert(0, str(root))
    try:
        framework, models = importlib.import_module("framework"), importlib.import_module("models")
    finally:
        sys.path.remove(str(root))
    if not str(framework.__file__).startswith(str(root)):
        raise SystemExit(f"framework came from {framework.__file__}, not from {root}")
    return framework, models


def check(root: Path) -> Callable[[], object]:
    framework, models = load(root)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1797, 64))
    y = rng.integers(0, 2, (1797, 1)).astype(np.float64)
    model = models.four_three_one(64)
    return lambda: framework.check_gradients(model, framework.BCELoss(), x, y, method="complex", mode="full",
                                             localize=False)


STEPS = 200
"""Training steps a timed block of `--step`."""


def steps(root: Path, dtype: str) -> Callable[[], object]:
    """`STEPS` training steps of the 4-3-1 model on 1797 x 64, as `fit` takes them (benchmarks/step_time.py)."""
    framework, models = load(root)
    guard, layer = importlib.import_module("framework.core.guard"), importlib.import_module("framework.core.layer")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1797, 64)).astype(dtype)
    y = rng.integers(0, 2, (1797, 1)).astype(dtype)
    model, loss, optimizer = models.four_three_one(64, dtype=dtype), framework.BCELoss(), framework.SGD(lr=0.01)
    loss.check_labels(y)
    loss.labels_checked = True
    params, workspace = model.parameters(), model.workspace_layers()
    try:  # how fit runs the model, takes the loss and back-propagates it, since this module came
        objective = importlib.import_module("framework.training.objective").objective(model, loss)
    except ModuleNotFoundError:
        objective = None

    def run() -> None:
        for _ in range(STEPS):
            with guard.floating_point_errors("step"), layer.reusing_workspace(workspace):
                if objective is None:
                    loss.forward(model.forward(x), y)
                    model.backward(loss.backward())
                elif hasattr(objective, "outputs"):
                    objective.forward(x, objective.outputs(x), y, None)
                    objective.backward()
                else:  # before the objective ran the model's forward
                    objective.forward(model.forward(x), y, None)
                    objective.backward()
                optimizer.step(params)

    return run


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("commit", help="the commit to compare with (a hash, a tag, HEAD~1)")
    parser.add_argument("--pairs", type=int, default=30, help="timed pairs (default 30)")
    parser.add_argument("--step", action="store_true", help=f"time {STEPS} training steps, not the check")
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64", help="of --step's model and data")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        other = Path(tmp) / "other"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(other), args.commit], check=True)
        try:
            theirs, ours = (steps(other, args.dtype), steps(ROOT, args.dtype)) if args.step else (check(other), check(ROOT))
            theirs(), ours()
            times: dict[str, list[float]] = {"theirs": [], "ours": []}
            for i in range(args.pairs):
                order = [("theirs", theirs), ("ours", ours)]
                for name, f in order if i % 2 == 0 else order[::-1]:
                    start = time.perf_counter()
                    f()
                    times[name].append(time.perf_counter() - start)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(other)], check=True)
    ratios = [o / t for t, o in zip(times["theirs"], times["ours"])]
    what = f"4-3-1 {STEPS} training steps, {args.dtype}" if args.step else "4-3-1 full complex check"
    print(f"{what}, {args.pairs} pairs: {args.commit} median {statistics.median(times['theirs']):.4f} s, "
          f"this checkout median {statistics.median(times['ours']):.4f} s; this / {args.commit}: median of the pairs' "
          f"ratios {statistics.median(ratios):.3f}, of their minima {min(times['ours']) / min(times['theirs']):.3f}")


if __name__ == "__main__":
    main()
