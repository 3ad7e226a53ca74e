"""Ready-made models, built from the public API of `framework`."""

from collections.abc import Callable

from framework import Sequential
from models.classifier import four_three_one, mlp_classifier

MODELS: dict[str, Callable[[int], Sequential]] = {
    "four_three_one": four_three_one,
    "mlp_16_8": lambda n_features: mlp_classifier(n_features, (16, 8)),
}
"""Builders by name, for the command line: each takes the number of input features."""

__all__ = ["MODELS", "four_three_one", "mlp_classifier"]
