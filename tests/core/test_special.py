"""erfc against `math.erfc`: its precision, its dtype, and no overflow for any input."""

import math

import numpy as np
import pytest

from framework.core.special import erfc


def test_erfc_matches_math_to_rounding() -> None:
    a = np.concatenate([np.linspace(-30.0, 30.0, 60001), np.linspace(-1.01, 1.01, 2021), [0.0, -0.0, 1.0, 8.0]])
    expected = np.array([math.erfc(v) for v in a])
    got = erfc(a)
    normal = expected > np.finfo(np.float64).tiny  # subnormals have few digits to compare
    np.testing.assert_allclose(got[normal], expected[normal], rtol=2e-15, atol=0)
    assert np.all(np.abs(got - expected) <= 4.5e-16)


def test_erfc_keeps_float32_and_never_overflows() -> None:
    a = np.array([-3e38, -30.0, -1.0, 0.0, 0.5, 30.0, 3e38], dtype=np.float32)
    got = erfc(a)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, [math.erfc(float(v)) for v in a], rtol=1e-6, atol=1e-38)
    huge = erfc(np.array([-1e308, -np.inf, 1e308, np.inf]))
    np.testing.assert_array_equal(huge, [2.0, 2.0, 0.0, 0.0])


@pytest.mark.parametrize("a", [0.25, 0.9999, 1.0, 3.5, 7.9999, 8.0, 12.0])
def test_erfc_is_symmetric_about_one(a: float) -> None:
    pair = erfc(np.array([a, -a]))
    assert pair[0] + pair[1] == pytest.approx(2.0, rel=1e-16, abs=0)
