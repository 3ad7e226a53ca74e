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
    """(batch, H, W, C) of a 4-D input, else a ShapeError naming the layer and the shape, with the fix
    for flat rows, one image without its batch axis, or grey images without their channel axis.
    Once the layer is built (`channels` known), a batch with C where the channels belong is refused
    as channels-first."""
    expected = f"(batch, H, W, {'C' if channels is None else channels})"
    if len(shape) != 4:
        raise ShapeError(f"{layer!r} expects images {expected}, channels last, got shape {shape}{_rank_hint(shape, channels)}")
    b, h, w, c = shape
    if channels is not None and c != channels and h == channels:
        raise ShapeError(f"{layer!r} expects images {expected}, got shape {shape}: {TRANSPOSE}")
    if channels is not None and c != channels:
        raise ShapeError(f"{layer!r} expects images {expected}, got shape {shape}: {c} channels where it was "
                         f"built for {channels}")
    if min(shape[1:]) < 1:
        raise ShapeError(f"{layer!r} expects images {expected}, got shape {shape}: H, W and C need at least one "
                         "entry each")
    return b, h, w, c


def _rank_hint(shape: Shape, channels: int | None) -> str:
    if len(shape) == 2:
        return ": a batch of flat rows? reshape to (batch, H, W, C)"
    if len(shape) != 3:
        return ""
    one = "one image? add the batch axis: x[np.newaxis]"
    grey = "grey images? add the channel axis: x[..., np.newaxis]"
    if channels is not None:
        return f": {one if shape[-1] == channels else grey if channels == 1 else ''}".rstrip(": ")
    return f": {one}; {grey}"


def refuse_channels_first(layer: object, shape: Shape) -> None:
    """Refuse the first images an unbuilt layer is given when they look channels-first: 1, 3 or 4 rows
    (grey, RGB or RGBA channels) and at least 8 columns and "channels", (batch, 3, 64, 64). Shapes
    alone never are (an `Input` declares them, and builds the layer): only data."""
    if len(shape) == 4 and shape[1] in (1, 3, 4) and min(shape[2:]) >= 8:
        raise ShapeError(f"{layer!r} expects images (batch, H, W, C), got shape {shape}: {TRANSPOSE}. If these "
                         f"really are {shape[1]}-row images of {shape[3]} channels, declare them: "
                         f"Sequential([Input({tuple(shape[1:])}), ...])")


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
