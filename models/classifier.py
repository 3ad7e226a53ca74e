"""The classic binary image classifier: ReLU hidden layers of 4 and 3 units and a sigmoid output."""

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from framework import Dense, Layer, ReLU, Sequential, Sigmoid


def mlp_classifier(
    n_features: int, hidden: Sequence[int] = (4, 3), *, seed: int = 0, dtype: npt.DTypeLike = np.float64
) -> Sequential:
    """Dense -> ReLU for each hidden width, then Dense(-> 1) -> Sigmoid; He initialisation.

    Layer i draws its weights with seed `seed + i`, so a model is the same on every run.

    >>> mlp_classifier(64).summary()  # doctest: +ELLIPSIS
    ---...
    Total params: 279 (float64)
    ...
    """
    widths = [n_features, *hidden]
    layers: list[Layer] = []
    for i, (n_in, n_out) in enumerate(zip(widths, widths[1:])):
        layers += [Dense(n_in, n_out, seed=seed + i, dtype=dtype), ReLU()]
    layers += [Dense(widths[-1], 1, seed=seed + len(hidden), dtype=dtype), Sigmoid()]
    return Sequential(layers)


def four_three_one(n_features: int, *, seed: int = 0, dtype: npt.DTypeLike = np.float64) -> Sequential:
    """The 4-3-1 classifier: n_features -> 4 -> 3 -> 1."""
    return mlp_classifier(n_features, (4, 3), seed=seed, dtype=dtype)
