"""The complementary error function of a real array, which numpy lacks: `GELU` needs it element-wise.

`math.erfc` takes one number at a time (a Python call an entry, through `np.frompyfunc`), and scipy
is not a dependency. So `erfc` evaluates Cephes' rational approximations (`ndtr.c`, S. L. Moshier):
erf(a) = a T(a²) / U(a²) for |a| < 1, erfc(a) = exp(-a²) P(a) / Q(a) for 1 <= |a| < 8 and
exp(-a²) R(a) / S(a) beyond, erfc(-a) = 2 - erfc(a), with exp(-a²) as exp(-m²) exp(-(a² - m²)) for
m, a rounded to 1/128, whose square is exact (Cephes' `expx2`): a² rounded would cost a² epsilons.
Within 2e-15 of `math.erfc`, relative to its value, wherever that is a normal float.
"""

from collections.abc import Sequence

import numpy as np

from framework.core.arrays import Array

_T = (9.60497373987051638749e0, 9.00260197203842689217e1, 2.23200534594684319226e3, 7.00332514112805075473e3,
      5.55923013010394962768e4)
_U = (3.35617141647503099647e1, 5.21357949780152679795e2, 4.59432382970980127987e3, 2.26290000613890934246e4,
      4.92673942608635921086e4)
_P = (2.46196981473530512524e-10, 5.64189564831068821977e-1, 7.46321056442269912687e0, 4.86371970985681366614e1,
      1.96520832956077098242e2, 5.26445194995477358631e2, 9.34528527171957607540e2, 1.02755188689515710272e3,
      5.57535335369399327526e2)
_Q = (1.32281951154744992508e1, 8.67072140885989742329e1, 3.54937778887819891062e2, 9.75708501743205489753e2,
      1.82390916687909736289e3, 2.24633760818710981792e3, 1.65666309194161350182e3, 5.57535340817727675546e2)
_R = (5.64189583547755073984e-1, 1.27536670759978104416e0, 5.01905042251180477414e0, 6.16021097993053585195e0,
      7.40974269950448939160e0, 2.97886665372100240670e0)
_S = (2.26052863220117276590e0, 9.39603524938001434673e0, 1.20489539808096656605e1, 1.70814450747565897222e1,
      9.60896809063285878198e0, 3.36907645100081516050e0)

_FAR = 28.0
"""exp(-28²) underflows to 0, as erfc does from |a| = 27.3: |a| is capped here, so that a² cannot overflow."""


def _polynomial(x: Array, coefficients: Sequence[float], *, monic: bool = False) -> Array:
    """Σ c_k x^(n-k), highest power first (Horner's rule); `monic`: with a leading 1 before them."""
    y: Array = x + coefficients[0] if monic else x * coefficients[0] + coefficients[1]
    for c in coefficients[1:] if monic else coefficients[2:]:
        np.multiply(y, x, out=y)
        y += c
    return y


def erfc(a: Array) -> Array:
    """1 - erf(a) element-wise, for a real float array, in its dtype.

    >>> erfc(np.array([-1.0, 0.0, 0.5, 3.0]))
    array([1.84270079e+00, 1.00000000e+00, 4.79500122e-01, 2.20904970e-05])
    """
    x = np.abs(a)
    out = np.empty_like(a)
    near = x < 1
    z = a[near]
    out[near] = 1 - z * _polynomial(z * z, _T) / _polynomial(z * z, _U, monic=True)
    if near.all():
        return out
    rest = ~near
    x = np.minimum(x[rest], _FAR)
    middle = x < 8
    ratio = np.where(middle, _polynomial(x, _P) / _polynomial(x, _Q, monic=True), 0)
    far = ~middle
    if far.any():
        ratio[far] = _polynomial(x[far], _R) / _polynomial(x[far], _S, monic=True)
    m = np.round(x * 128) / 128  # 7 fractional bits: m² is exact, and a² = m² + (a - m)(a + m)
    np.multiply(ratio, np.exp(-m * m) * np.exp((m - x) * (x + m)), out=ratio)  # erfc(|a|), exp(-a²) to rounding
    out[rest] = np.where(a[rest] < 0, 2 - ratio, ratio)
    return out
