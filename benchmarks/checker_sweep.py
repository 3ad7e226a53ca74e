"""False verdicts of `check_gradients` over random models: for each, a random MLP classifier (batch,
features, hidden widths, seed, and a sample of zeros on ReLU's kink half the time, as
tests/gradcheck/test_check.py's Hypothesis test draws them), checked by both methods as it is (a
FAILED is a false failure), then with its last Dense's dL/dW times 1 + 1e-9 by the complex step (a
PASSED is a false pass, unless that gradient is 0, dead ReLUs, or the check raised its threshold above
the factor's 5e-10 for the cost's rounding, a saturated sigmoid, and said so).

    python benchmarks/checker_sweep.py --models 600 --seed 1
"""

import argparse
import time

import numpy as np

from framework import BCELoss, Dense, check_gradients
from models import mlp_classifier


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=600, help="random models (default 600)")
    parser.add_argument("--seed", type=int, default=1, help="the seed that draws them (default 1)")
    args = parser.parse_args()
    meta = np.random.default_rng(args.seed)
    false_failures, false_passes, zero, rounded, start = 0, 0, 0, 0, time.perf_counter()
    for _ in range(args.models):
        batch, features = int(meta.integers(2, 21)), int(meta.integers(1, 13))
        hidden = [int(h) for h in meta.integers(1, 7, size=int(meta.integers(1, 3)))]
        seed, zero_row = int(meta.integers(0, 2**32 - 1)), bool(meta.integers(0, 2))
        rng = np.random.default_rng(seed)
        model = mlp_classifier(features, hidden, seed=seed)
        x = rng.standard_normal((batch, features))
        if zero_row:
            x[0] = 0.0  # with zero biases, the first hidden layer sits on ReLU's kink for this sample
        y = rng.integers(0, 2, (batch, 1)).astype(np.float64)
        described = f"batch={batch}, features={features}, hidden={hidden}, seed={seed}, zero_row={zero_row}"
        for method in ("complex", "central"):
            report = check_gradients(model, BCELoss(), x, y, method=method, seed=seed)
            if not report.passed:
                false_failures += 1
                print(f"false failure ({method}): {described}: {report!r}", flush=True)
        last = next(layer for layer in reversed(model.layers) if isinstance(layer, Dense))
        wrong = type(last).backward_params

        def scaled(grad: np.ndarray, layer: Dense = last) -> None:
            wrong(layer, grad)
            layer.W.grad *= 1 + 1e-9

        last.backward_params = scaled  # type: ignore[method-assign]
        report = check_gradients(model, BCELoss(), x, y, method="complex", seed=seed, localize=False)
        if report.rows[-2].zero:  # the last W's gradient is 0 (dead ReLUs): no factor shows
            zero += 1
        elif report.threshold > 5e-10:  # raised by the cost's rounding (a saturated sigmoid), and said
            rounded += 1
        elif report.passed:
            false_passes += 1
            print(f"false pass (complex, dL/dW x (1 + 1e-9)): {described}: {report!r}", flush=True)
    print(f"{args.models} models, seed {args.seed}: {false_failures} false failures in {2 * args.models} checks of "
          f"correct models, {false_passes} false passes in {args.models - zero - rounded} checks of a factor 1 + 1e-9 "
          f"(and {zero} where the last dL/dW is 0, of which a check proves nothing, {rounded} where the threshold "
          f"was raised above 5e-10 by the cost's rounding, with a warning); {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
