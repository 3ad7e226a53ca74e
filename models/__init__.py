"""Ready-made models, built from the public API of `framework`."""

from models.classifier import four_three_one, mlp_classifier

__all__ = ["four_three_one", "mlp_classifier"]
