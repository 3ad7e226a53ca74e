"""The geometry the image layers share (framework.layers.images): Keras' "valid" and "same", and the
channels-first guess, which must not refuse a channels-last feature map."""

import numpy as np
import pytest

from framework import Conv2D, MaxPool2D
from framework.core.errors import ShapeError
from framework.layers.images import image_shape, window_geometry


@pytest.mark.parametrize(("size", "window", "stride", "out", "pads"), [
    (5, 3, 1, 5, (1, 1)),   # odd total: even split
    (6, 3, 2, 3, (0, 1)),   # total (3-1)·2 + 3 - 6 = 1: the extra one after (bottom / right)
    (7, 2, 3, 3, (0, 1)),   # total (3-1)·3 + 2 - 7 = 1
    (4, 4, 1, 4, (1, 2)),   # an even window: total 3, the odd one after
    (2, 5, 1, 2, (2, 2)),   # a window larger than the image fits once padded
    (8, 1, 2, 4, (0, 0)),   # a 1-wide window never pads
])
def test_same_padding_is_tensorflows(size: int, window: int, stride: int, out: int, pads: tuple[int, int]) -> None:
    assert window_geometry("L", (1, size, size, 1), (window, window), (stride, stride), "same", "pool") == (
        (out, out), (pads, pads))


def test_valid_padding_counts_whole_windows() -> None:
    assert window_geometry("L", (1, 7, 9, 1), (3, 2), (2, 3), "valid", "kernel") == ((3, 3), ((0, 0), (0, 0)))


@pytest.mark.parametrize("shape", [(2, 4, 8, 16), (2, 3, 5, 8), (2, 8, 8, 3), (2, 1, 28, 1), (2, 3, 9, 8)])
def test_channels_last_feature_maps_are_not_taken_for_channels_first(shape: tuple[int, ...]) -> None:
    assert image_shape("L", shape) == shape
    assert MaxPool2D(1).forward(np.zeros(shape)).shape == shape


@pytest.mark.parametrize("shape", [(2, 3, 64, 64), (2, 1, 28, 28), (2, 4, 8, 8)])
def test_square_images_with_their_channels_first_are_refused(shape: tuple[int, ...]) -> None:
    with pytest.raises(ShapeError, match=r"channels-first\? transpose to \(batch, H, W, C\) with x.transpose"):
        image_shape(Conv2D(2, 3), shape)


def test_a_dense_layer_on_feature_maps_asks_for_a_flatten() -> None:
    from framework import Dense, Input, Sequential

    with pytest.raises(ShapeError, match=r"layer 1 Dense\(4 -> 1\) does not fit after layer 0 Conv2D.*gets "
                                         r"\(1, 6, 6, 4\): images or feature maps\? put a Flatten\(\)"):
        Sequential([Input((8, 8, 1)), Conv2D(4, 3), Dense(4, 1)])
    with pytest.raises(ShapeError, match=r"Dense\(\? -> 1\) expected input of shape \(batch, features\), got "
                                         r"\(2, 4, 4, 3\): images or feature maps\? put a Flatten\(\)"):
        Dense(1).forward(np.zeros((2, 4, 4, 3)))
