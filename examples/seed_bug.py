"""The two classic backprop bugs, written the way a learner writes them, and what the checker says.

1. The sigmoid derivative taken on the pre-activation Z, z(1 - z), instead of on the activation
   A, a(1 - a).
2. The 1/m of the mean cost left out of the gradient dJ/dA.

Run: python examples/seed_bug.py
"""

import numpy as np

import models
from framework import Array, BCELoss, Labels, Layer, Sequential, Sigmoid, check_gradients
from framework.datasets import load_digits_binary


class SigmoidDerivativeOnZ(Layer):
    """Sigmoid whose backward uses Z where it needs A (bug 1)."""

    def __init__(self) -> None:
        super().__init__()
        self._z: Array | None = None

    def forward(self, x: Array) -> Array:
        self._z = x
        return Sigmoid().forward(x)

    def backward(self, grad: Array) -> Array:
        z = self.cached(self._z)
        return grad * z * (1 - z)  # BUG: sigmoid'(z) = a(1 - a), not z(1 - z)


class BCEWithoutOneOverM(BCELoss):
    """Binary cross-entropy whose gradient forgets the 1/m of the mean (bug 2)."""

    def __init__(self) -> None:
        super().__init__()
        self._learner_cache: tuple[Array, Array] | None = None

    def forward(self, y_pred: Array, y_true: Labels) -> float | complex:
        self._learner_cache = y_pred, np.asarray(y_true, dtype=np.float64)
        return super().forward(y_pred, y_true)

    def backward(self) -> Array:
        a, y = self.cached(self._learner_cache)
        return -(y / a - (1 - y) / (1 - a))  # BUG: dJ/dA = -(y/a - (1-y)/(1-a)) / m


def with_last_layer(model: Sequential, last: Layer) -> Sequential:
    return Sequential([*model.layers[:-1], last])


def main() -> None:
    data = load_digits_binary()
    x, y = data.x_train[:64], data.y_train[:64]
    print(f"{data.description}; checking on a batch of m = {len(x)}\n")
    model = models.four_three_one(x.shape[1], seed=0)
    cases = [
        ("Bug 1: sigmoid derivative on Z", with_last_layer(model, SigmoidDerivativeOnZ()), BCELoss()),
        ("Bug 2: 1/m missing from dJ/dA", model, BCEWithoutOneOverM()),
        ("Fixed: the built-in Sigmoid and BCELoss", model, BCELoss()),
    ]
    for title, net, loss in cases:
        for method in ("complex", "central"):
            report = check_gradients(net, loss, x, y, method=method)
            print(f"=== {title}, {method} ===")
            print(report)
            print(
                f"Close enough? worst relative error {report.worst_relative_error:.1e} against a threshold of "
                f"{report.threshold:.0e}: {'yes' if report.passed else 'no'}\n"
            )


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
