"""Ready-made models, built from the public API of `framework`."""

import functools
from typing import Protocol

from framework import Normalization, Sequential
from models.classifier import four_three_one, mlp_classifier


class Builder(Protocol):
    """What the command line calls: the number of input features, the number of classes (a sigmoid
    output for two, logits for more), and the `Normalization` layer the model starts with, if any."""

    def __call__(self, n_features: int, *, classes: int = 2, normalization: Normalization | None = None) -> Sequential: ...


MODELS: dict[str, Builder] = {
    "four_three_one": four_three_one,
    "mlp_16_8": functools.partial(mlp_classifier, hidden=(16, 8)),
}
"""Builders by name, for the command line."""

__all__ = ["MODELS", "Builder", "four_three_one", "mlp_classifier"]
