"""Write a new layer, prove its backward right, save and load it, and use it in a residual graph.

LearnableSwish(x) = x · sigmoid(βx) with a learnable β, one per feature (the built-in Swish has β = 1).
Run: python examples/custom_layer.py
"""

import tempfile
from pathlib import Path

import numpy as np

from framework import (
    Adam, Add, Array, BCELoss, Config, Dense, Input, Layer, Model, Parameter, Sigmoid, check_gradients, check_layer,
    load_model, register_layer,
)


@register_layer  # so that load_model can rebuild it by name
class LearnableSwish(Layer):
    """x · sigmoid(βx), β learnable per feature (starting at `beta`)."""

    def __init__(self, features: int, beta: float = 1.0) -> None:
        super().__init__()
        self.features, self.beta0 = features, beta
        self.beta = Parameter(np.full(features, beta), name="beta")  # found by parameters()
        self._cache: tuple[Array, Array] | None = None

    def forward(self, x: Array) -> Array:
        s = Sigmoid().forward(x * self.beta.value)  # stable, and complex-step safe
        self._cache = x, s
        return x * s

    def backward(self, grad: Array) -> Array:
        x, s = self.cached(self._cache)
        self._cache = None
        ds = s * (1 - s)  # sigmoid'(βx)
        self.beta.grad[...] = (grad * x * x * ds).sum(axis=0)  # dL/dβ = Σ_batch g · x² · σ'(βx)
        return grad * (s + x * self.beta.value * ds)  # dL/dx = g · (σ(βx) + βx · σ'(βx))

    def get_config(self) -> Config:  # the constructor's arguments, for load_model
        return {"features": self.features, "beta": self.beta0}

    def __repr__(self) -> str:
        return f"LearnableSwish({self.features})"


def main() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 8))
    y = (np.sin(x[:, :1] * 2) + x[:, 1:2] > 0).astype(np.float64)

    # 1. The layer on its own, with both methods.
    for method in ("complex", "central"):
        report = check_layer(LearnableSwish(8, beta=0.5), x, method=method)
        print(f"check_layer(LearnableSwish) by {method}: {'PASSED' if report.passed else 'FAILED'}, "
              f"worst relative error {report.worst_relative_error:.1e}")
        assert report.passed, str(report)

    # 2. In a graph with a residual connection: Dense -> LearnableSwish -> Dense, added to its input.
    inp = Input(8)
    h = Add()([inp, Dense(8, 8, seed=1)(LearnableSwish(8)(Dense(8, 8, seed=0)(inp)))])
    model = Model(inputs=inp, outputs=Sigmoid()(Dense(8, 1, seed=2)(h)))
    model.summary()
    report = check_gradients(model, BCELoss(), x, y, method="complex")
    print(report)
    assert report.passed

    # 3. Train it, save it, load it: the loaded model predicts bit for bit the same.
    model.compile(loss=BCELoss(), optimizer=Adam(lr=0.01), metrics=["accuracy"])
    history = model.fit(x, y, epochs=60, batch_size=16, verbose=0, seed=0)
    print(f"loss {history.history['loss'][0]:.4f} -> {history.history['loss'][-1]:.4f}, "
          f"accuracy {history.history['accuracy'][-1]:.3f}")
    with tempfile.TemporaryDirectory() as folder:
        loaded = load_model(model.save(Path(folder) / "swish.safetensors"))
    same = np.array_equal(loaded.predict(x), model.predict(x))
    print(f"loaded model predicts bit for bit the same: {same}")
    assert same


if __name__ == "__main__":
    main()
