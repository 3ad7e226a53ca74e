"""A gradient check leaves the random generators of the layers as it found them: a seeded run draws
the same Dropout masks with a check before it or without (the check draws masks of its own)."""

import numpy as np

from framework import BCELoss, Dense, Dropout, Sequential, Sigmoid, check_gradients, check_layer


def model() -> Sequential:
    inner = Sequential([Dense(4, 4, seed=1), Dropout(0.5, seed=3)])  # nested: its Dropout is found too
    return Sequential([Dense(3, 4, seed=0), Dropout(0.5, seed=2), inner, Dense(4, 1, seed=4), Sigmoid()])


def test_check_gradients_leaves_every_dropout_generator_where_it_was() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((6, 3)), rng.integers(0, 2, (6, 1)).astype(float)
    unchecked, checked = model(), model()
    unchecked.forward(x)
    checked.forward(x)
    assert check_gradients(checked, BCELoss(), x, y).passed
    for _ in range(3):  # the next masks are the same as without the check
        np.testing.assert_array_equal(checked.forward(x), unchecked.forward(x))


def test_check_layer_leaves_the_generator_where_it_was() -> None:
    x = np.random.default_rng(1).standard_normal((5, 4))
    unchecked, checked = Dropout(0.3, seed=7), Dropout(0.3, seed=7)
    assert check_layer(checked, x).passed
    np.testing.assert_array_equal(checked.forward(x), unchecked.forward(x))
