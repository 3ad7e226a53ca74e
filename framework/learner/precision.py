"""Rounding or a bug? Ask the learner's cost again in extended precision.

A cost written the usual way loses digits where it is ill-conditioned: `np.log(1 - A)` with a sigmoid
saturated to within 1e-9 of 1 knows `1 - A` to about 1e-7, and so does every derivative taken through
it, the complex step's included, at any step size. A bug does not depend on the precision; rounding
does. numpy runs the learner's own code in 80-bit `np.longdouble` (on x86, 2048 times float64's
precision) when handed such arrays: a disagreement that shrinks by more than `SHRINK` there is the
cost's rounding, one that stays is the learner's gradient.
"""

from collections.abc import Callable, Mapping

import numpy as np

from framework.core.arrays import Array

EXTENDED = bool(np.finfo(np.longdouble).eps < 1e-18)
"""Whether this platform's np.longdouble is more precise than float64 (x86 Linux: yes; Windows, Apple
silicon: no, and the test is not available)."""
SHRINK = 8.0
"""Rounding shrinks about 2048-fold from float64 to 80-bit precision, a bug not at all; this leaves room for
the learner's own gradient, which carries float64's rounding in both."""
H = 1e-30
"""The complex step in extended precision."""

RawCost = Callable[[dict[str, Array]], object]


def extended_copies(work: Mapping[str, Array], complex_name: str | None = None) -> dict[str, Array]:
    """Copies of the parameters in np.longdouble, `complex_name` in np.clongdouble."""
    return {n: a.real.astype(np.clongdouble if n == complex_name else np.longdouble) for n, a in work.items()}


def extended_value(cost: RawCost, work: dict[str, Array]) -> np.clongdouble | None:
    """The cost at `work` as an extended-precision number, or None when the learner's code gave a
    result of lower precision (a float64 cast inside), failed on such arrays, or gave no number."""
    try:
        with np.errstate(all="ignore"):
            value = np.asarray(cost(dict(work)))
    except Exception:  # whatever the learner's code raises on np.longdouble: the test is only unavailable
        return None
    if value.size != 1 or value.dtype not in (np.longdouble, np.clongdouble):
        return None
    return np.clongdouble(value.reshape(()))


def extended_entry(cost: RawCost, work: Mapping[str, Array], name: str, k: int) -> Callable[[float], np.longdouble] | None:
    """The cost as a function of the offset of flat entry k of parameter `name`, in extended precision,
    or None where the learner's code does not keep that precision."""
    if not EXTENDED:
        return None
    point = extended_copies(work)
    flat = point[name].reshape(-1)
    base = flat[k]

    def at(offset: float) -> np.longdouble:
        flat[k] = base + np.longdouble(offset)
        try:
            value = extended_value(cost, point)
        finally:
            flat[k] = base
        return np.longdouble(np.nan) if value is None else value.real

    return at if np.isfinite(at(0.0)) else None


def extended_complex_steps(cost: RawCost, work: Mapping[str, Array], name: str,
                           entries: np.ndarray) -> np.ndarray | None:
    """The complex-step derivatives of the cost at flat `entries` of parameter `name`, in extended
    precision (float64 results), or None where the learner's code does not keep that precision."""
    if not EXTENDED:
        return None
    point = extended_copies(work, name)
    flat = point[name].reshape(-1)
    out = np.empty(len(entries))
    for i, k in enumerate(entries.tolist()):
        base = flat[k]
        flat[k] = base + 1j * np.longdouble(H)
        value = extended_value(cost, point)
        flat[k] = base
        if value is None:
            return None
        out[i] = float(value.imag / np.longdouble(H))
    return out


def extended_gap(cost: RawCost, work: Mapping[str, Array], directions: Mapping[str, Array]) -> float | None:
    """Along `directions`, in extended precision: how far the complex step's slope is from the nearest
    second-order one-sided difference (from the side the complex step looks at) over steps 1e-6 to 1e-4:
    the larger steps average over a cost that rounds in steps, and are still accurate to about 1e-8."""
    if not EXTENDED:
        return None
    point = extended_copies(work)

    def along(offset: complex) -> np.clongdouble | None:
        moved = {n: point[n] + np.clongdouble(offset) * directions[n].astype(np.longdouble) for n in point}
        return extended_value(cost, moved)

    values = [along(offset) for offset in (1j * H, 0, 1e-6, 2e-6, 1e-5, 2e-5, 1e-4, 2e-4)]
    if any(v is None for v in values):
        return None
    step, f0, *moved = (np.clongdouble(v) for v in values)
    slope = step.imag / np.longdouble(H)
    return min(float(abs(slope - (-3 * f0.real + 4 * near.real - far.real) / (2 * np.longdouble(eps))))
               for eps, near, far in zip((1e-6, 1e-5, 1e-4), moved[::2], moved[1::2], strict=True))
