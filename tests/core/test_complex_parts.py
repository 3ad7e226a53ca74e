"""complex_parts' exp and log against numpy's complex ones, on both of their paths: the checker's
probes (imaginary parts below SMALL) and any other complex number."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framework.core import complex_parts
from framework.core.complex_parts import SMALL

ULPS = 4.5e-16
"""Two ulps: numpy's real exp and log are vectorized, its complex ones call libm, each within an ulp."""


def _close(got: np.ndarray, expected: np.ndarray, floor: float = np.finfo(np.float64).tiny) -> None:
    """Within ULPS of `expected`, relative to it or to `floor` (1 for a log near 0, whose error is absolute)."""
    assert np.all(np.abs(got - expected) <= ULPS * np.maximum(np.abs(expected), floor))


@pytest.mark.parametrize("im_scale", [1e-20, 1e-9, SMALL * 0.999, SMALL, 1e-3, 1.0, 10.0])
def test_exp_is_numpys_complex_exp_to_rounding(im_scale: float) -> None:
    rng = np.random.default_rng(0)
    re, im = -np.abs(rng.standard_normal(20_000)) * 40, rng.uniform(-1, 1, 20_000) * im_scale
    got = complex_parts.exp(re, im)
    expected = np.exp(re + 1j * im)
    _close(got.real, expected.real)
    _close(got.imag, expected.imag)


def test_exp_of_a_probe_is_its_first_order_term_exactly() -> None:
    re = np.linspace(-30, 0, 1001)
    got = complex_parts.exp(re, np.full_like(re, 1e-20))
    np.testing.assert_array_equal(got.real, np.exp(re))
    np.testing.assert_array_equal(got.imag, np.exp(re) * 1e-20)


@pytest.mark.parametrize("im_scale", [1e-20, 1e-9, SMALL * 0.999, SMALL, 1e-3, 1.0])
def test_log_is_numpys_complex_log_to_rounding(im_scale: float) -> None:
    rng = np.random.default_rng(1)
    re = np.exp(rng.uniform(-300, 3, 20_000))
    im = re * rng.uniform(-1, 1, 20_000) * im_scale
    log_modulus, arg = complex_parts.log(re, im)
    expected = np.log(re + 1j * im)
    _close(log_modulus, expected.real, floor=1.0)
    _close(arg, expected.imag)


def test_log_of_a_negative_or_zero_real_part_takes_the_general_formula() -> None:
    re, im = np.array([-2.0, 0.0, 3.0]), np.array([1e-20, 1e-20, 1e-20])
    log_modulus, arg = complex_parts.log(re, im)
    expected = np.log(re + 1j * im)
    np.testing.assert_allclose(log_modulus, expected.real, rtol=1e-15)
    np.testing.assert_allclose(arg, expected.imag, rtol=1e-15)


def test_nan_passes_through_both() -> None:
    nan = np.array([np.nan, 1.0])
    assert np.isnan(complex_parts.exp(np.array([-1.0, -1.0]), nan)[0])
    assert np.isnan(complex_parts.exp(nan, np.array([1e-20, 1e-20]))[0])
    assert all(np.isnan(part[0]) for part in complex_parts.log(nan, np.array([1e-20, 1e-20])))
    assert all(np.isnan(part[0]) for part in complex_parts.log(np.array([1.0, 1.0]), nan))


def test_the_inputs_are_not_modified_and_empty_arrays_pass() -> None:
    re, im = np.array([-1.0, -2.0]), np.array([1e-20, 2e-20])
    kept = re.copy(), im.copy()
    complex_parts.exp(re, im)
    complex_parts.log(-re, im)
    np.testing.assert_array_equal(re, kept[0])
    np.testing.assert_array_equal(im, kept[1])
    assert complex_parts.exp(np.empty(0), np.empty(0)).shape == (0,)
    assert complex_parts.log(np.empty((0, 3)), np.empty((0, 3)))[0].shape == (0, 3)


@settings(max_examples=200, deadline=None)
@given(st.floats(-700, 0), st.floats(-50, 50), st.floats(0.01, 100), st.integers(-30, 3))
def test_exp_and_log_on_any_number(re: float, log_im: float, modulus: float, exponent: int) -> None:
    im = np.sign(log_im) * 10.0 ** (exponent) * abs(log_im)
    got = complex_parts.exp(np.array([re]), np.array([im]))[0]
    expected = np.exp(complex(re, im))
    assert abs(got - expected) <= ULPS * abs(expected) + 1e-300
    log_modulus, arg = complex_parts.log(np.array([modulus]), np.array([im]))
    assert complex(log_modulus[0], arg[0]) == pytest.approx(np.log(complex(modulus, im)), rel=ULPS, abs=ULPS)
