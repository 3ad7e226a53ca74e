"""What the image layers share: channels-last shapes (batch, H, W, C), and the geometry of a window
moved over them with Keras' arguments (`kernel_size` or `pool_size`, `strides`, "valid" or "same")."""

from typing import Literal, TypeAlias, get_args

from framework.core.arrays import Shape, WholeNumber
from framework.core.errors import ConfigError, ShapeError, ValueRangeError
from framework.core.validation import is_whole_number

Padding: TypeAlias = Literal["valid", "same"]
Pair: TypeAlias = WholeNumber | tuple[WholeNumber, WholeNumber] | list[WholeNumber]
TRANSPOSE = "channels-first? transpose to (batch, H, W, C) with x.transpose(0, 2, 3, 1)"


def pair(layer: str, what: str, value: object) -> tuple[int, int]:
    """An int or a pair of ints (rows, columns), each at least 1, as a pair of Python ints."""
    values = value if isinstance(value, tuple | list) else (value, value)
    if len(values) != 2 or not all(is_whole_number(v) for v in values):
        raise ConfigError(f"{layer}: {what} must be an int or a pair of ints, got {value!r}")
    if min(values) < 1:
        raise ValueRangeError(f"{layer}: {what} must be at least 1, got {value!r}")
    return int(values[0]), int(values[1])


def padding(layer: str, value: object) -> Padding:
    if value not in get_args(Padding):
        raise ValueRangeError(f"{layer}: unknown padding {value!r}, expected 'valid' or 'same'")
    return value  # type: ignore[return-value]  # one of the two literals, just checked


def image_shape(layer: object, shape: Shape, channels: int | None = None) -> tuple[int, int, int, int]:
    """(batch, H, W, C) of a 4-D input, else a ShapeError naming the layer and the shape. A batch that
    looks channels-first is refused with the transpose that fixes it: C where `channels` (known once
    the layer is built) is expected, or square images with 1, 3 or 4 rows and as many channels as
    columns, (batch, 3, 64, 64), when the channels are not known."""
    expected = f"(batch, H, W, {'C' if channels is None else channels})"
    if len(shape) != 4:
        hint = ": a batch of flat rows? reshape to (batch, H, W, C)" if len(shape) == 2 else ""
        raise ShapeError(f"{layer!r} expects images {expected}, channels last, got shape {shape}{hint}")
    b, h, w, c = shape
    if (channels is not None and c != channels and h == channels) or (channels is None and h in (1, 3, 4)
                                                                     and w == c >= 8):
        raise ShapeError(f"{layer!r} expects images {expected}, got shape {shape}: {TRANSPOSE}")
    if channels is not None and c != channels:
        raise ShapeError(f"{layer!r} expects images {expected}, got shape {shape}: {c} channels where it was "
                         f"built for {channels}")
    if min(shape[1:]) < 1:
        raise ShapeError(f"{layer!r} expects images {expected}, got shape {shape}: H, W and C need at least one "
                         "entry each")
    return b, h, w, c


def window_geometry(layer: object, shape: Shape, window: tuple[int, int], strides: tuple[int, int],
                    pad: Padding, what: str) -> tuple[tuple[int, int], tuple[tuple[int, int], tuple[int, int]]]:
    """(H_out, W_out) and the padding ((top, bottom), (left, right)) of a `window` moved by `strides`
    over the images of `shape`, as Keras/TensorFlow: "same" gives ceil(size / stride) outputs, padded
    by max((out - 1) stride + window - size, 0), the odd one at the bottom or right; "valid" gives
    (size - window) // stride + 1, unpadded, and refuses a window larger than the image."""
    _, h, w, _ = shape
    if pad == "valid":
        if window[0] > h or window[1] > w:
            raise ShapeError(f"{layer!r}: the {window[0]}x{window[1]} {what} is larger than the {h}x{w} image "
                             f"(input shape {shape}) with padding='valid': use padding='same' or a smaller {what}")
        return ((h - window[0]) // strides[0] + 1, (w - window[1]) // strides[1] + 1), ((0, 0), (0, 0))
    outs, pads = [], []
    for size, k, s in zip((h, w), window, strides):
        out = -(-size // s)
        total = max((out - 1) * s + k - size, 0)
        outs.append(out)
        pads.append((total // 2, total - total // 2))
    return (outs[0], outs[1]), (pads[0], pads[1])
