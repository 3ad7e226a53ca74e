"""The bias helpers against numpy's own: `add_to_rows` is `y += b` in every dtype and shape, blocked
or not, and `column_sums` is `g.sum(axis=0)`."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from framework.core.sums import add_to_rows, column_sums


@settings(max_examples=60, deadline=None)
@given(rows=st.integers(1, 13000), width=st.integers(1, 20), dtype=st.sampled_from(["float32", "float64", "complex128"]),
       seed=st.integers(0, 2**16))
def test_add_to_rows_is_a_broadcast_add(rows: int, width: int, dtype: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.standard_normal((rows, width)).astype(dtype)
    if dtype == "complex128":
        y += 1j * rng.standard_normal((rows, width))
    b = rng.standard_normal(width).astype("float64" if dtype == "complex128" else dtype)
    expected = y + b
    add_to_rows(y, b)
    np.testing.assert_array_equal(y, expected)  # the same additions, entry by entry: equal to the bit
    assert y.dtype == np.dtype(dtype)


def test_add_to_rows_adds_the_remainder_rows_too() -> None:
    y = np.zeros((100 * 256 + 5, 3))
    add_to_rows(y, np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(y, np.tile([1.0, 2.0, 3.0], (100 * 256 + 5, 1)))


def test_column_sums_are_numpys() -> None:
    g = np.random.default_rng(0).standard_normal((1000, 3))
    np.testing.assert_allclose(column_sums(g, np.empty(3)), g.sum(axis=0), rtol=1e-13)
