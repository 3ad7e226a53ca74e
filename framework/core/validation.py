"""Validation helpers: what a value is, in the words of an error message, and whether it is a whole number."""

from typing import Any, TypeGuard

import numpy as np

from framework.core.arrays import Labels
from framework.core.errors import ConfigError, FormatError


def describe_nonfinite(what: str, a: Labels) -> str:
    """'x has 3 NaN and 1 inf entries, the first at (5, 0)', or '' when `a` is all finite."""
    bad = ~np.isfinite(a)
    if not bad.any():
        return ""
    n_nan = int(np.isnan(a).sum())
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    return f"{what} has {n_nan} NaN and {int(bad.sum()) - n_nan} inf entries, the first at {first}"


def is_whole_number(value: object) -> TypeGuard[int | np.integer[Any]]:
    """An int (a numpy one too), not a bool: what counts, sizes and seeds must be."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def whole_number(value: object, what: str) -> int:
    """`value` as a Python int, when it is a whole number (a numpy integer such as `y.max() + 1`
    becomes an int, so that a config holding it is plain JSON); else a ConfigError naming `what`.

    >>> whole_number(np.int64(3), "Dense: in_features")
    3
    >>> whole_number(3.0, "Dense: in_features")
    Traceback (most recent call last):
    ...
    framework.core.errors.ConfigError: Dense: in_features must be a whole number, got 3.0
    """
    if not is_whole_number(value):
        raise ConfigError(f"{what} must be a whole number, got {value!r}")
    return int(value)


def a_kind(value: object) -> str:
    """What `value` is, for a message: "a dict", "an EarlyStopping", "the class TerminateOnNaN"."""
    if isinstance(value, type):
        return f"the class {value.__name__}"
    name = type(value).__name__
    return f"{'an' if name[0].lower() in 'aeiou' else 'a'} {name}"


def brief(value: object) -> str:
    """`repr(value)`, cut to 200 characters: a value read from a file, shown in an error message."""
    text = repr(value)
    return text if len(text) <= 200 else f"{text[:197]}..."


def located(error: Exception, where: str) -> FormatError:
    """`error` as a FormatError whose message starts with `where` ("layer 2 Dense", then the file), so
    that an error rising out of a nested config names each place on the way. A FormatError keeps its
    class and cause; any other error becomes the cause of a new FormatError."""
    if isinstance(error, FormatError):
        error.args = (f"{where}: {error}",)
        return error
    wrapped = FormatError(f"{where}: {error}")
    wrapped.__cause__ = error
    return wrapped


def sample_shape_hint(got: tuple[int, ...], expected: tuple[int, ...]) -> str:
    """The fix for a batch of shape `got` given to a model whose samples have shape `expected` (no
    batch axis), ": ..." or "" when none is known: one sample without its batch axis, channels-first
    images, images without their channel axis, or flat rows of an image's pixels.

    >>> sample_shape_hint((3, 8, 8), (8, 8, 1)), sample_shape_hint((5, 64), (8, 8, 1))
    (': add the channel axis, x[..., np.newaxis]', ': rows of 64 numbers? reshape to (batch, 8, 8, 1)')
    """
    if got == expected:
        return ": one sample? add the batch axis, x[np.newaxis]"
    if len(expected) == 1 and len(got) == 2 and got[0] == expected[0]:
        return ": did you pass features-first data? transpose it"
    if len(expected) == 3 and got[1:] == (expected[2], *expected[:2]):
        return ": channels-first? transpose to (batch, H, W, C) with x.transpose(0, 2, 3, 1)"
    if len(expected) == 3 and expected[2] == 1 and got[1:] == expected[:2]:
        return ": add the channel axis, x[..., np.newaxis]"
    if len(expected) > 1 and len(got) == 2 and got[1] == int(np.prod(expected)):
        return f": rows of {got[1]} numbers? reshape to (batch, {', '.join(map(str, expected))})"
    return ""
