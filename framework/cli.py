"""Command line: `python -m framework train` (the main job) and `--help` for the rest."""

import argparse
import time
from collections.abc import Sequence

import numpy as np

from framework.arrays import Array
from framework.gradcheck import check_gradients
from framework.losses import BCELoss
from framework.sequential import Sequential


def accuracy(model: Sequential, x: Array, y: Array) -> float:
    """The share of samples whose predicted probability is on the same side of 0.5 as the label."""
    return float(np.mean((model.forward(x) > 0.5) == (y > 0.5)))


def train(args: argparse.Namespace) -> int:
    import models
    from framework.datasets import load_digits_binary

    data = load_digits_binary(seed=args.seed)
    print(data.description)
    model = models.four_three_one(data.x_train.shape[1], seed=args.seed)
    model.summary()
    loss = BCELoss()

    x_check, y_check = data.x_train[: args.check_batch], data.y_train[: args.check_batch]
    for method in ("complex", "central"):
        start = time.perf_counter()
        report = check_gradients(model, loss, x_check, y_check, method=method)
        print(f"\n{report}\n({time.perf_counter() - start:.2f} s on a batch of {len(x_check)})")
        if not report.passed:
            return 1

    print(f"\nBatch gradient descent on all {len(data.x_train)} training images, lr = {args.lr}")
    params = model.parameters()
    for epoch in range(1, args.epochs + 1):
        cost = loss.forward(model.forward(data.x_train), data.y_train)
        model.backward(loss.backward())
        for p in params:
            p.value -= args.lr * p.grad
        if epoch == 1 or epoch % max(1, args.epochs // 10) == 0:
            print(f"epoch {epoch:5d}  cost {cost:.6f}")
    print(f"\ntrain accuracy {accuracy(model, data.x_train, data.y_train):.4f}")
    print(f"test accuracy  {accuracy(model, data.x_test, data.y_test):.4f}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="framework", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser(
        "train",
        help="the main job: check the 4-3-1 classifier's gradients on the digits task, then train and test it",
    )
    p.add_argument("--epochs", type=int, default=3000, help="full-batch gradient-descent steps (default 3000)")
    p.add_argument("--lr", type=float, default=0.3, help="learning rate (default 0.3)")
    p.add_argument("--seed", type=int, default=0, help="seed of the split and the weights (default 0)")
    p.add_argument("--check-batch", type=int, default=64, help="samples the gradient check uses (default 64)")
    p.set_defaults(run=train)
    args = parser.parse_args(argv)
    result: int = args.run(args)
    return result
