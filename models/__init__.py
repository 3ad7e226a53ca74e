"""Ready-made models, built from the public API of `framework`."""

import math
from typing import Protocol

import attrs

from framework import Normalization, Sequential
from models.classifier import four_three_one, mlp_classifier
from models.convnet import convnet, digits_cnn, image_cnn


class Builder(Protocol):
    """What the command line calls: the shape of a sample (without the batch axis), the number of
    classes (a sigmoid output for two, logits for more), and the `Normalization` layer the model
    starts with, if any."""

    def __call__(self, input_shape: tuple[int, ...], *, classes: int = 2,
                 normalization: Normalization | None = None) -> Sequential: ...


@attrs.frozen
class Recipe:
    """A builder for the command line, and the samples it takes."""

    build: Builder
    images: bool
    """True: (H, W, C) images, channels last; False: flat rows of features."""
    about: str
    lr: float = 0.02
    """The learning rate `train` uses for it with Adam unless told (--lr)."""


def _four_three_one(input_shape: tuple[int, ...], *, classes: int = 2,
                    normalization: Normalization | None = None) -> Sequential:
    return four_three_one(math.prod(input_shape), classes=classes, normalization=normalization)


def _mlp_16_8(input_shape: tuple[int, ...], *, classes: int = 2,
              normalization: Normalization | None = None) -> Sequential:
    return mlp_classifier(math.prod(input_shape), (16, 8), classes=classes, normalization=normalization)


def _cnn(input_shape: tuple[int, ...], *, classes: int = 2, normalization: Normalization | None = None) -> Sequential:
    small = len(input_shape) == 3 and min(input_shape[:2]) < 32
    return (digits_cnn if small else image_cnn)(input_shape, classes=classes, normalization=normalization)


MODELS: dict[str, Recipe] = {
    "four_three_one": Recipe(_four_three_one, False, "Dense 4 -> ReLU -> Dense 3 -> ReLU -> the head"),
    "mlp_16_8": Recipe(_mlp_16_8, False, "Dense 16 -> ReLU -> Dense 8 -> ReLU -> the head"),
    "cnn": Recipe(_cnn, True, "digits_cnn for images under 32 pixels a side, image_cnn for larger ones", 0.005),
    "digits_cnn": Recipe(digits_cnn, True, "two blocks of Conv2D 3x3 (16, 32 filters, 'same') -> ReLU -> MaxPool2D",
                         0.005),
    "image_cnn": Recipe(image_cnn, True, "two blocks of Conv2D 3x3 (16, 32 filters, 'valid') -> ReLU -> MaxPool2D",
                        0.005),
}
"""The command line's `--model` choices, by name."""

__all__ = ["MODELS", "Builder", "Recipe", "convnet", "digits_cnn", "four_three_one", "image_cnn", "mlp_classifier"]
