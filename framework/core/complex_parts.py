"""exp and log of complex numbers from their real and imaginary parts as real arrays, on which numpy's
loops are vectorized: its complex exp, log and arctan2 call libm one entry at a time, a quarter of a
complex-step check of the 4-3-1 model. These are the functions themselves, not an expansion: where
every imaginary part b is below `SMALL` (of the real part a, for log), the terms that cos b, sin b,
|a + ib| and arctan(b / a) add to 1, b, a and b / a are below half an ulp, so cos b = 1, sin b = b and
|a + ib| = a exactly in float64, and arctan(b / a) is b / a or the float next to it; those are taken
without calling libm. The complex step's probes (b of about 1e-20) are all there; any other number
takes the general formula.

The probes of a stack move one real point by imaginary steps, so they share their real part: a
`SharedReal` holds it once, beside the K imaginary parts, and `exp_shared` and `divide_shared` take
the same arithmetic on it, exact in float64 where the imaginary parts are `SMALL` (a product of two of
them is below half an ulp of the real part's)."""

from typing import TypeAlias

import attrs
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


def real_or_none(a: Array) -> Array | None:
    """`a` as a real array (its real part, for a complex one of imaginary parts all 0); None if it has any other."""
    if a.dtype.kind != "c":
        return a
    return a.real if not a.imag.any() else None


def imaginary_step(delta: complex, *arrays: Array) -> list[Array] | None:
    """`arrays` real and C-ordered, if `delta` is imaginary (the complex step's i h) and each array
    real-valued: then the point moved by delta keeps their real parts (`SharedReal`); else None."""
    real = [real_or_none(a) for a in arrays]
    if delta.real != 0 or any(a is None for a in real):
        return None
    return [np.ascontiguousarray(a) for a in real if a is not None]


@attrs.frozen
class SharedReal:
    """K complex arrays with one real part, as the gradient checker's probes have (each moves the same
    real point by its own imaginary step), by parts: `re` (batch, ...), the real part they share, and
    `im` (K, batch, ...), their imaginary parts, which the stack owns (a layer may overwrite them, never
    `re`). A layer's `forward_shared` runs its forward's complex arithmetic on them: on `re` once for all K."""

    re: Array
    im: Array

    def __attrs_post_init__(self) -> None:
        if self.im.shape[1:] != self.re.shape:
            raise ValueError(f"SharedReal: imaginary parts of shape {self.im.shape} for a real part of shape {self.re.shape}")

    @classmethod
    def split(cls, stack: Array) -> "SharedReal | None":
        """A copy of the complex `stack` (K, batch, ...) by parts; None where its arrays' real parts differ."""
        re = stack.real
        if not np.array_equal(re, np.broadcast_to(re[0], re.shape)):
            return None
        return cls(re[0].copy(), stack.imag.copy())

    def __len__(self) -> int:
        return len(self.im)

    def probe(self, k: int) -> Array:
        """The k-th complex array."""
        one: Array = self.re + 1j * self.im[k]
        return one

    def joined(self) -> Array:
        """The K complex arrays, stacked."""
        out = np.empty(self.im.shape, np.result_type(self.im, 1j))
        out.real[...] = self.re
        out.imag[...] = self.im
        return out

    def small(self) -> bool:
        """Whether every imaginary part is below `SMALL`: then exp and division by parts are exact
        (`exp_shared`, `divide_shared`) and keep the real part shared."""
        return bool(np.abs(self.im).max(initial=0) < SMALL)


Stack: TypeAlias = Array | SharedReal
"""K complex arrays on a leading axis, stacked as one array or by parts."""


def joined(stack: Stack) -> Array:
    """The arrays of `stack` as one complex array (K, ...)."""
    return stack.joined() if isinstance(stack, SharedReal) else stack


def exp_shared(z: SharedReal) -> SharedReal:
    """e^z = e^re (cos im + i sin im) = e^re (1 + i im) for a `small` z; overwrites z.im."""
    e = np.exp(z.re)
    return SharedReal(e, np.multiply(z.im, e, out=z.im))


def divide_shared(t: SharedReal, d: SharedReal) -> SharedReal:
    """t / d by Smith's algorithm, which numpy's complex division takes, for |d.im| <= SMALL |d.re| and
    |t.im| <= SMALL |t.re|: the ratio r = d.im / d.re makes d.re + d.im r round to d.re and t.re + t.im r
    to t.re, so t / d = (t.re + i (t.im - t.re r)) / d.re; overwrites d.im."""
    r = np.divide(d.im, d.re, out=d.im)
    r *= t.re
    im = np.subtract(t.im, r, out=r)
    im /= d.re
    return SharedReal(t.re / d.re, im)
