"""How close is close enough: the pass thresholds of the learner's checks, keyed by dtype and method,
and what a relative error of a given size means, in words."""

from collections.abc import Mapping, Sequence
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from framework.gradcheck.report import GradCheckRow

How: TypeAlias = Literal["complex", "central", "twin"]
"""How the true gradient was found: complex step, central differences, or the twin network (exact)."""

PASS: dict[tuple[str, How], float] = {
    ("float64", "complex"): 1e-9,  # the complex step is exact to about 1e-15, but a learner's own backward loses
    # digits where the cost's does not: -(1 - A) with A within 1e-6 of 1 is 1e-10 off, and no mistake is that small
    ("float64", "central"): 1e-7,  # differences lose about half the digits to rounding
    ("float64", "twin"): 1e-9,  # the same formulas in another order, and the learner's own rounding of A
    ("float32", "complex"): 1e-4,  # float32's own rounding is about 1e-7, and it adds up
    ("float32", "central"): 1e-4,
    ("float32", "twin"): 1e-4,
}
"""Relative error ||g - ĝ|| / (||g|| + ||ĝ||) at or below which a gradient passes."""

ROUNDING: dict[How, str] = {
    "complex": "the complex step is exact to about 1e-15",
    "central": "central differences are good to about 1e-9 here",
    "twin": "the twin's values are exact up to rounding, about 1e-15",
}

KINK = 1e-5
"""Relative agreement asked of a one-sided slope: a value between the left and the right slope, within
this, is a valid subgradient at a kink."""

BANDS: tuple[tuple[float, str], ...] = (
    (1e-3, "a bug, not rounding"),
    (1e-7, "too large for rounding, and too small for most bugs: a term left out (a small lambd?) or a "
           "slightly different formula"),
    (0.0, "small, but beyond what this method's rounding explains"),
)
"""What a relative error above the pass threshold means: the first band it exceeds."""


def pass_threshold(dtype: npt.DTypeLike, how: How) -> float:
    """The table's threshold for gradients of `dtype` (float32 gets float32's, anything else float64's)."""
    return PASS["float32" if np.dtype(dtype) == np.float32 else "float64", how]


def meaning(relative_error: float, threshold: float) -> str:
    """What a relative error means: 'the same numbers up to rounding' at or below `threshold`, else its band."""
    if relative_error <= threshold:
        return "the same numbers up to rounding"
    return next((words for lower, words in BANDS if relative_error > lower), "not a number")


def agreement(rows: Sequence[GradCheckRow], how: str, threshold: float,
              rounding: Mapping[str, float] | None = None) -> str:
    """The verdict of a check that passed: the worst relative error among the rows within the threshold,
    the rows whose disagreement was the cost's own rounding (key: relative error in extended precision),
    and those that passed within an absolute rounding bound (small values, whose relative error means little)."""
    rounding = rounding or {}
    relative = [r for r in rows if r.relative_error <= threshold]
    rounded = [r for r in rows if r.relative_error > threshold and r.name in rounding]
    zero = [r.name for r in rows if r.relative_error > threshold and r.name not in rounding]
    worst = max((r.relative_error for r in relative), default=0.0)
    text = (f"Close enough: yes. {', '.join(r.name for r in relative)} agree{'s' if len(relative) == 1 else ''} with "
            f"{how} to a relative error of "
            f"{worst:.1e} at worst (pass: {threshold:.0e}): the same numbers up to rounding" if relative else
            "Close enough: yes")
    if rounded:
        text += (f"; {', '.join(r.name for r in rounded)} to {max(r.relative_error for r in rounded):.1e}, the "
                 f"cost's own rounding at these parameters (in extended precision: {max(rounding.values()):.1e})")
    return text + (f"; {', '.join(zero)} agree{'s' if len(zero) == 1 else ''} to rounding in absolute terms (see "
                   f"{'its note' if len(zero) == 1 else 'their notes'})." if zero else ".")
