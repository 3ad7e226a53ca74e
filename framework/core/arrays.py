"""The array types every layer, loss and the checker speak.

`Array` admits float32 and float64 (training) and complex128 (the complex-step check).
"""

from collections.abc import Sequence
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

Array: TypeAlias = npt.NDArray[np.inexact[Any]]
Labels: TypeAlias = npt.NDArray[np.inexact[Any]] | npt.NDArray[np.integer[Any]]
"""Targets: floats, or integer class indices for CrossEntropyLoss."""
Indices: TypeAlias = npt.NDArray[np.integer[Any]]
"""Integer indices: the token ids an `Embedding` takes, the flat entries the gradient checker probes."""
Inputs: TypeAlias = Array | Sequence[Array]
"""What a model takes: one array, or one array per input of a graph `Model`."""
Mask: TypeAlias = npt.NDArray[np.bool_]
SampleWeights: TypeAlias = npt.NDArray[np.floating[Any]]
"""One non-negative weight a sample, shape (batch,): how much each sample's cost counts (`fit`'s `sample_weight`)."""
Shape: TypeAlias = tuple[int, ...]
Scalar: TypeAlias = float | complex
"""A loss value: a float, or a complex number under the complex-step check."""
WholeNumber: TypeAlias = int | np.integer[Any]
"""A size, an axis or a seed as a constructor takes it: an int or a numpy integer (`y.max() + 1`),
kept as an int."""
RealNumber: TypeAlias = float | np.floating[Any] | np.integer[Any]
"""A rate, a slope or an epsilon as a constructor takes it: a Python or numpy number, kept as a float."""

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def float_dtype(dtype: npt.DTypeLike) -> np.dtype[np.floating[Any]]:
    """The float32 or float64 dtype that `dtype` names; anything else is refused."""
    from framework.core.errors import DTypeError

    try:
        resolved = np.dtype(dtype)
    except (TypeError, ValueError) as e:
        raise DTypeError(f"dtype must be float32 or float64, got {dtype!r}") from e
    if resolved not in FLOAT_DTYPES:
        raise DTypeError(f"dtype must be float32 or float64 (the parameters' dtype), got {resolved}")
    return resolved  # type: ignore[return-value]
