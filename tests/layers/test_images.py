"""The geometry the image layers share (framework.layers.images): Keras' "valid" and "same", and the
channels-first guess, which must not refuse a channels-last feature map."""

import re

import numpy as np
import pytest

from framework import Conv2D, Dense, Flatten, Input, MaxPool2D, ReLU, Sequential
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


@pytest.mark.parametrize("shape", [(2, 4, 8, 16), (2, 3, 5, 8), (2, 8, 8, 3), (2, 1, 28, 1), (2, 3, 9, 8), (2, 3, 8, 8)])
def test_pools_never_guess_the_layout(shape: tuple[int, ...]) -> None:
    assert image_shape("L", shape) == shape
    assert MaxPool2D(1).forward(np.zeros(shape)).shape == shape


@pytest.mark.parametrize("shape", [(2, 3, 64, 64), (2, 1, 28, 28), (2, 4, 8, 8), (40, 3, 12, 16)])
def test_the_first_images_an_unbuilt_conv_gets_are_refused_when_channels_first(shape: tuple[int, ...]) -> None:
    with pytest.raises(ShapeError, match=r"channels-first\? transpose to \(batch, H, W, C\) with x.transpose.*If these "
                                         r"really are \d-row images of \d+ channels, declare them"):
        Conv2D(2, 3).forward(np.zeros(shape))
    model = Sequential([Conv2D(2, 3), Flatten(), Dense(1)])
    with pytest.raises(ShapeError, match=r"channels-first\?"):
        model.predict(np.zeros(shape))


@pytest.mark.parametrize("shape", [(2, 3, 64, 64), (2, 3, 8, 8)])
def test_a_declared_input_shape_is_never_second_guessed(shape: tuple[int, ...]) -> None:
    model = Sequential([Input(shape[1:]), Conv2D(2, 3, padding="same"), ReLU(), Conv2D(2, 3, padding="same")])
    assert model.forward(np.zeros(shape)).shape == (*shape[:3], 2)
    built = Conv2D(2, 3, padding="same")
    built.forward(np.zeros((1, 8, 8, 3)))
    with pytest.raises(ShapeError, match=r"got shape \(1, 3, 8, 8\): channels-first\?"):  # C where the channels belong
        built.forward(np.zeros((1, 3, 8, 8)))


@pytest.mark.parametrize(("shape", "channels", "hint"), [
    ((8, 8, 3), None, "one image? add the batch axis: x[np.newaxis]; grey images? add the channel axis: "
                      "x[..., np.newaxis]"),
    ((8, 8, 3), 3, "one image? add the batch axis: x[np.newaxis]"),
    ((5, 8, 8), 1, "grey images? add the channel axis: x[..., np.newaxis]"),
    ((5, 64), None, "a batch of flat rows? reshape to (batch, H, W, C)"),
])
def test_a_missing_axis_gets_its_fix(shape: tuple[int, ...], channels: int | None, hint: str) -> None:
    with pytest.raises(ShapeError, match=re.escape(f"channels last, got shape {shape}: {hint}")):
        image_shape("L", shape, channels)


def test_a_dense_layer_on_feature_maps_asks_for_a_flatten() -> None:
    with pytest.raises(ShapeError, match=r"layer 1 Dense\(4 -> 1\) does not fit after layer 0 Conv2D.*gets "
                                         r"\(1, 6, 6, 4\): images or feature maps\? put a Flatten\(\)"):
        Sequential([Input((8, 8, 1)), Conv2D(4, 3), Dense(4, 1)])
    with pytest.raises(ShapeError, match=r"Dense\(\? -> 1\) expected input of shape \(batch, features\), got "
                                         r"\(2, 4, 4, 3\): images or feature maps\? put a Flatten\(\)"):
        Dense(1).forward(np.zeros((2, 4, 4, 3)))
