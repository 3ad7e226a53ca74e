"""What both learner checks ask of their inputs: dicts of real, finite numpy arrays, gradient keys that
name a parameter, gradients of their parameter's shape. Every error names the key and the shapes."""

import difflib
import re
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from framework.core.arrays import Array
from framework.core.errors import DTypeError, NonFiniteError, ShapeError, ValueRangeError
from framework.core.validation import describe_nonfinite

INTERMEDIATE = re.compile(r"d[ZA](\d+|L)")
"""Keys of the quantities between the parameters' gradients, dZ1, dA2, dAL: check_backprop checks them."""


def suggestion(key: str, known: Iterable[str], listed: Iterable[str] = ()) -> str:
    """': did you mean 'dW1'?' for the closest of the `known` keys, else the keys `listed` (the known ones
    by default)."""
    names = list(known)
    close = [n for n in names if n.lower() == key.lower()] or difflib.get_close_matches(key, names, n=1, cutoff=0.5)
    if close:
        return f": did you mean {close[0]!r}?"
    return f" (expected one of {', '.join(list(listed) or names)})"


def real_copy(caller: str, what: str, value: object, *, numbers: bool = False) -> Array:
    """A float64 copy of a real, finite numpy array. `numbers`: integers and booleans are converted
    too (data, labels); otherwise the array must be float (parameters, gradients)."""
    kinds = "biuf" if numbers else "f"
    if isinstance(value, np.floating | float) and not numbers:
        value = np.asarray(value)  # np.mean(dZ) without an axis: the shape check says so
    if not isinstance(value, np.ndarray) or value.dtype.kind not in kinds:
        got = f"dtype {value.dtype}" if isinstance(value, np.ndarray) else f"a {type(value).__name__}"
        want = "a numpy array of numbers" if numbers else "a real float numpy array"
        fix = ""
        if isinstance(value, np.ndarray) and value.dtype.kind in "biu":
            fix = f": {what}.astype(float)"
        elif isinstance(value, list | tuple):
            fix = f": np.array({what})"
        raise DTypeError(f"{caller}: {what} must be {want}, got {got}{fix}")
    problem = describe_nonfinite(what, value)
    if problem:
        raise NonFiniteError(f"{caller}: {problem}; a gradient check needs finite numbers")
    return np.array(value, dtype=np.float64, order="C", copy=True)


def parameter_of(key: str, parameters: Iterable[str]) -> str | None:
    """The parameter a gradient key names: itself ('W1') or without its 'd' ('dW1'), else None."""
    names = set(parameters)
    if key in names:
        return key
    if key.startswith("d") and key[1:] in names:
        return key[1:]
    return None


def gradient_keys(caller: str, grads: Mapping[str, Any], parameters: Iterable[str]) -> tuple[dict[str, str], list[str]]:
    """{parameter: the grads key that holds its gradient} and the intermediate keys (dZ1, dA2) left to
    check_backprop; any other key is an error that suggests the closest gradient key."""
    if not isinstance(grads, Mapping):
        raise DTypeError(f"{caller}: grads must be a dict such as {{'dW1': ..., 'db1': ...}}, got a {type(grads).__name__}")
    names = list(parameters)
    found: dict[str, str] = {}
    intermediate: list[str] = []
    for key in grads:
        if not isinstance(key, str):
            raise ValueRangeError(f"{caller}: grads keys must be strings such as 'dW1', got {key!r}")
        name = parameter_of(key, names)
        if name is None:
            if INTERMEDIATE.fullmatch(key):
                intermediate.append(key)
                continue
            hint = suggestion(key, ["d" + n for n in names if "d" + n not in grads and n not in grads],
                              ["d" + n for n in names])
            raise ValueRangeError(f"{caller}: grads[{key!r}] matches no parameter{hint}")
        if name in found:
            raise ValueRangeError(f"{caller}: grads has both {found[name]!r} and {key!r} for parameter {name!r}: keep one")
        found[name] = key
    return found, intermediate


def shape_hint(got: tuple[int, ...], want: tuple[int, ...], samples: int | None = None) -> str:
    """Why a gradient may have the shape it has: transposed, keepdims left out, summed over the wrong axis."""
    if len(got) == len(want) == 2 and got == want[::-1] and got != want:
        return ": transposed? a gradient has the shape of its parameter"
    if len(want) == 2 and 1 in want and got == (max(want),):
        return ": the 1-axis is missing (np.sum(..., keepdims=True)?)"
    if len(want) == 1 and got in ((1, want[0]), (want[0], 1)):
        return ": an extra 1-axis (np.sum(dZ, axis=0) without keepdims=True gives the shape of b)"
    if got == () or (got == (1, 1) and want != (1, 1)):
        return ": summed over every axis? give np.sum an axis"
    if samples is not None and samples in got and samples not in want:
        return ": summed over the wrong axis? the sum for db runs over the samples"
    return ""


def check_shape(caller: str, key: str, value: npt.NDArray[Any], want: tuple[int, ...], what: str,
                samples: int | None = None) -> None:
    """`value` has shape `want` (that of `what`, such as 'W1 (4, 64)'), else a ShapeError with a hint."""
    if value.shape != want:
        raise ShapeError(f"{caller}: {key} has shape {value.shape}, but {what} has shape {want}"
                         f"{shape_hint(value.shape, want, samples)}")
