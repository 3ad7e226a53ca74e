"""`column_sums`: Σ over the rows of a tall, narrow matrix as one BLAS call (a bias's gradient)."""

import functools
from typing import Any

import numpy as np

from framework.core.arrays import Array


@functools.lru_cache(maxsize=16)
def _ones(n: int, dtype: np.dtype[Any]) -> Array:
    ones = np.ones(n, dtype)
    ones.setflags(write=False)
    return ones


def column_sums(g: Array, out: Array) -> Array:
    """1ᵀg into `out`: a GEMV with a cached, read-only vector of ones, several times faster than
    numpy's column sums (`g.sum(axis=0)`) of a tall, narrow g."""
    return np.matmul(_ones(len(g), g.dtype), g, out=out)
