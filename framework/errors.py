"""One error base for the whole framework; each error also subclasses the built-in it refines."""

from typing import Any, TypeGuard

import numpy as np

from framework.arrays import Labels


class FrameworkError(Exception):
    """Base of every error the framework raises on purpose."""


class ShapeError(FrameworkError, ValueError):
    """An array has the wrong rank or size."""


class ValueRangeError(FrameworkError, ValueError):
    """Values outside the range accepted, such as labels outside [0, 1] for BCELoss."""


class NonFiniteError(FrameworkError, ValueError):
    """NaN or inf where a finite number is needed."""


class DTypeError(FrameworkError, TypeError):
    """An array or parameter has a dtype the layer cannot use."""


class CallOrderError(FrameworkError, RuntimeError):
    """Methods called in the wrong order, such as backward before forward."""


class BadGradient(FrameworkError):
    """A backward was given a gradient of the wrong shape or dtype: the mistake is in what produced it
    (in a model, the backward of the layer after it), which `Sequential.backward` names."""


class GradientShapeError(BadGradient, ShapeError):
    """A gradient of another shape than the output it belongs to."""


class GradientDTypeError(BadGradient, DTypeError):
    """A gradient of another dtype than the output it belongs to, or not an array (a missing return)."""


def describe_nonfinite(what: str, a: Labels) -> str:
    """'x has 3 NaN and 1 inf entries, the first at (5, 0)', or '' when `a` is all finite."""
    bad = ~np.isfinite(a)
    if not bad.any():
        return ""
    n_nan = int(np.isnan(a).sum())
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    return f"{what} has {n_nan} NaN and {int(bad.sum()) - n_nan} inf entries, the first at {first}"


class FormatError(FrameworkError, ValueError):
    """A saved model or configuration that is malformed, truncated or does not match its architecture."""


class MissingFileError(FormatError, FileNotFoundError):
    """A model file that does not exist: also a `FileNotFoundError`."""


REBUILD_ERRORS = (FrameworkError, TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError)
"""What a constructor may raise on arguments read from a file (a string where it wants an int, 10**400)."""


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
    framework.errors.ConfigError: Dense: in_features must be a whole number, got 3.0
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


class DatasetError(FrameworkError, ValueError):
    """A dataset folder the loader cannot use: missing, with fewer than two classes, with an empty
    class, or holding a file that is not an image."""


class ConfigError(FrameworkError, TypeError):
    """An object of the wrong kind where another is expected (`compile(loss="bce")`, a layer twice in a
    Sequential), or whose configuration cannot be saved, such as a schedule that is a plain function."""
