"""A bias on a tall, narrow matrix: `column_sums`, Σ over its rows as one BLAS call (the bias's
gradient), and `add_to_rows`, the bias added to every row in blocks (its forward)."""

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


_BLOCK = 128
"""Rows a block of `add_to_rows`."""


def add_to_rows(y: Array, b: Array) -> None:
    """y += b on every row of a C-contiguous y, in blocks of `_BLOCK` rows against b tiled as many
    times where y is large, tall and narrow: numpy runs a broadcast add as an inner loop a row long,
    3x slower at 65,000 x 3 (a stack of the checker's probes)."""
    rows = len(y) - len(y) % _BLOCK
    if not 1 < b.size < 16 or y.size < 2**15:  # numpy's own is as fast for one column, a wide y or a small one
        np.add(y, b, out=y)
        return
    tiled = np.empty((_BLOCK, b.size), y.dtype)
    tiled[...] = b
    blocks = y[:rows].reshape(-1, tiled.size)
    np.add(blocks, tiled.reshape(-1), out=blocks)
    np.add(y[rows:], b, out=y[rows:])
