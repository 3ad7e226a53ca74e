"""exp and log of complex numbers from their real and imaginary parts as real arrays, on which numpy's
loops are vectorized: its complex exp, log and arctan2 call libm one entry at a time, a quarter of a
complex-step check of the 4-3-1 model. These are the functions themselves, not an expansion: where
every imaginary part b is below `SMALL` (of the real part a, for log), the terms that cos b, sin b,
|a + ib| and arctan(b / a) add to 1, b, a and b / a are below half an ulp, so cos b = 1, sin b = b and
|a + ib| = a exactly in float64, and arctan(b / a) is b / a or the float next to it; those are taken
without calling libm. The complex step's probes (b of about 1e-20) are all there; any other number
takes the general formula."""

import numpy as np

from framework.core.arrays import Array

SMALL = 2.0**-27
"""b² / 2 < 2⁻⁵⁵: the imaginary parts below which cos b rounds to 1 and sin b to b."""


def exp(re: Array, im: Array) -> Array:
    """e^(re + i im) = e^re (cos im + i sin im), as a complex array, for real parts whose exp is finite."""
    out = np.empty(re.shape, np.result_type(re, 1j))
    np.exp(re, out=out.real)
    if np.abs(im).max(initial=0) < SMALL:
        np.multiply(out.real, im, out=out.imag)
    else:
        np.multiply(out.real, np.sin(im), out=out.imag)
        out.real *= np.cos(im)
    return out


def log(re: Array, im: Array) -> tuple[Array, Array]:
    """The real and imaginary parts of log(re + i im) = ln|u| + i arg u."""
    low = re.min(initial=np.inf)
    if low > 0 and np.abs(im).max(initial=0) < SMALL * low:
        return np.log(re), im / re
    return np.log(np.hypot(re, im)), np.arctan2(im, re)
