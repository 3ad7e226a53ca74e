"""Sequential.backward lets a layer write dL/dx into the gradient it is given only when that gradient
is the framework's own (returned by the layer above), never the caller's array or a view of it."""

import numpy as np

from framework import Dense, Identity, ReLU, Reshape, Sequential
from framework.core.arrays import Array


def test_the_callers_gradient_and_its_views_are_never_written() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 3))
    for model in (Sequential([Dense(3, 4, seed=0), ReLU()]), Sequential([Dense(3, 4, seed=0), ReLU(), Identity()]),
                  Sequential([Dense(3, 4, seed=0), ReLU(), Reshape((2, 2)), Reshape((4,))])):
        g = rng.standard_normal(model.forward(x).shape)
        kept = g.copy()
        model.backward(g)
        np.testing.assert_array_equal(g, kept)
        assert not any(layer.grad_is_scratch for layer in model.layers)


def test_a_scratch_gradient_gives_the_gradients_of_fresh_arrays() -> None:
    rng = np.random.default_rng(1)
    x, g = rng.standard_normal((6, 3)), rng.standard_normal((6, 2))
    model = Sequential([Dense(3, 5, seed=0), ReLU(), Dense(5, 4, seed=1), ReLU(), Dense(4, 2, seed=2)])
    model.forward(x)
    dx = model.backward(g, input_grad=True)  # the ReLUs write into the gradients the Dense layers return
    grads = [p.grad.copy() for p in model.parameters()]
    model.forward(x)
    h: Array = g
    for layer in reversed(model.layers):  # each layer called on its own: fresh arrays all the way
        assert isinstance(layer, Dense | ReLU)
        h = layer.backward(h.copy())
    np.testing.assert_array_equal(h, dx)
    for p, expected in zip(model.parameters(), grads):
        np.testing.assert_array_equal(p.grad, expected)
