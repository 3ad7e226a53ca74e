"""Small convnets for channels-last images: blocks of Conv2D -> ReLU -> MaxPool2D, then the
classifier's head; one for the 8x8 digits, one for 64x64x3 pictures."""

from collections.abc import Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt

from framework import Conv2D, ShapeError, Flatten, Input, Layer, MaxPool2D, Normalization, ReLU, Sequential
from models.classifier import classifier_head, normalized_input


def convnet(
    input_shape: Sequence[int],
    filters: Sequence[int] = (16, 32),
    *,
    padding: Literal["valid", "same"] = "same",
    classes: int = 2,
    seed: int = 0,
    dtype: npt.DTypeLike = np.float64,
    normalization: Normalization | None = None,
) -> Sequential:
    """For each of `filters`: Conv2D(f, 3, padding) -> ReLU -> MaxPool2D(2); then Flatten and the
    classifier's head: Dense(-> 1) -> Sigmoid for two classes (BCELoss), Dense(-> classes) of logits
    for more (CrossEntropyLoss). He initialisation, block i seeded `seed + i`. `input_shape` is
    (H, W, C); with `normalization` (adapted on the training images, per channel) the model starts
    with it and takes raw pixels.

    >>> convnet((8, 8, 1), classes=10).layers  # doctest: +NORMALIZE_WHITESPACE
    [Conv2D(1 -> 16, kernel 3x3, strides 1x1, same), ReLU(), MaxPool2D(pool_size=(2, 2), strides=(2, 2),
     padding='valid'), Conv2D(16 -> 32, kernel 3x3, strides 1x1, same), ReLU(), MaxPool2D(pool_size=(2, 2),
     strides=(2, 2), padding='valid'), Flatten(), Dense(128 -> 10)]
    """
    shape = tuple(int(n) for n in input_shape)
    if len(shape) != 3:
        raise ShapeError(f"convnet: input_shape must be an image's (H, W, C), channels last, got {shape}")
    layers = normalized_input("convnet", shape, normalization, dtype) or [Input(shape)]
    blocks: list[Layer] = []
    for i, f in enumerate(filters):
        blocks += [Conv2D(f, 3, padding=padding, seed=seed + i, dtype=dtype), ReLU(), MaxPool2D(2)]
    blocks.append(Flatten())
    flat: tuple[int, ...] = (1, *shape)
    for layer in blocks:
        flat = layer.output_shape(flat)
    return Sequential([*layers, *blocks, *classifier_head("convnet", flat[1], classes, seed + len(filters), dtype)])


def digits_cnn(input_shape: Sequence[int] = (8, 8, 1), *, classes: int = 10, seed: int = 0,
               dtype: npt.DTypeLike = np.float64, normalization: Normalization | None = None) -> Sequential:
    """The digits' convnet: 3x3 convolutions of 16 and 32 filters, "same" padding (8x8 -> 4x4 -> 2x2),
    6,090 parameters for 10 classes."""
    return convnet(input_shape, (16, 32), padding="same", classes=classes, seed=seed, dtype=dtype,
                   normalization=normalization)


def image_cnn(input_shape: Sequence[int] = (64, 64, 3), *, classes: int = 2, seed: int = 0,
              dtype: npt.DTypeLike = np.float64, normalization: Normalization | None = None) -> Sequential:
    """A convnet for 64x64x3 pictures (the cat pictures): 3x3 convolutions of 16 and 32 filters,
    "valid" padding (64 -> 62 -> 31 -> 29 -> 14)."""
    return convnet(input_shape, (16, 32), padding="valid", classes=classes, seed=seed, dtype=dtype,
                   normalization=normalization)
