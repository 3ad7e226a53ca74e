"""The verdict on each tensor of a check: its numerical derivatives along its probes compared with
backward's gradient, at a tolerance taken from a table, a complex-step failure confirmed by central
differences before it is called wrong."""

import math
import warnings
from collections.abc import Callable, Sequence

import attrs
import numpy as np

from framework.core.arrays import Array, Mask, Scalar
from framework.gradcheck.numeric import (
    CENTRAL_STEP, EPS, Derivatives, Differentiator, Floats, Method, NotComplexSafe, Probes, TensorDifferentiator,
)
from framework.gradcheck.report import GradCheckRow, compare

THRESHOLDS: dict[np.dtype[np.inexact], dict[Method, float]] = {
    np.dtype(np.float64): {"complex": 1e-11, "central": 1e-7},
    np.dtype(np.float32): {"complex": 1e-4, "central": 1e-4},
}
"""The default relative-error threshold by dtype and method: 1e-11 for the complex step in float64 (its
errors are at machine precision, about 1e-15), 1e-7 for central differences; 1e-4 for float32, whose
own rounding is about 1e-7. Another dtype takes float64's."""

BACKWARD_ROUNDING = 64
"""A backward's gradient that is 0 comes out within this many ε of the largest gradient from 0 (a sum
that cancels); the complex step's is exact."""
QUOTIENT_ROUNDING = 16
"""A difference quotient (f(θ + h) - f(θ - h)) / 2h rounds by about ε |f| / h: a tensor whose gradient is
zero comes out within this many of those from 0 by central differences (`zero_tolerance`)."""


def zero_tolerance(threshold: float, scale: float, central: bool, eps: float = EPS) -> float:
    """How far from backward's a numerical derivative may be where the gradient is about 0 (`compare`'s
    atol), as a share of the check's largest gradient or cost, `scale`: the rounding of a backward,
    `BACKWARD_ROUNDING` ε, by the complex step, whose derivatives are exact; by central differences
    their quotients' rounding, `QUOTIENT_ROUNDING` ε / h (3.6e-9 in float64); neither more than
    `threshold`. Not `threshold` itself: that let a factor 1 + 1e-6 pass by central differences on a
    tensor whose gradients are a tenth of the largest, and a factor 2 by the complex step on one whose
    gradients are 1e-13 (weights of 1e-6)."""
    rounding = QUOTIENT_ROUNDING * eps / CENTRAL_STEP if central else BACKWARD_ROUNDING * eps
    return min(threshold, rounding) * scale


CONFIRM_FIRST = 8
"""A tensor that fails by the complex step is first differentiated again by central differences at
this many of its probes, those where backward and the complex step differ most."""


def default_threshold(method: Method, dtype: np.dtype[np.inexact]) -> float:
    """The threshold `THRESHOLDS` gives `method` in `dtype`."""
    return THRESHOLDS.get(np.dtype(dtype), THRESHOLDS[np.dtype(np.float64)])[method]


@attrs.frozen
class Confirmation:
    """Central differences of the function a complex-step check differentiates, for the tensors that
    fail by the complex step: `derivatives(i, probes)` differentiates the check's i-th tensor along
    `probes`, and `threshold` is central differences' own."""

    derivatives: Callable[[int, Probes], Derivatives]
    threshold: float


def central_confirmation(
    method: Method,
    threshold: float,
    dtype: np.dtype[np.inexact],
    f: Callable[[], Scalar],
    branches: Callable[[], Sequence[Mask | None]],
    tensors: Callable[[], Sequence[Array]],
    precision: float = EPS,
) -> Confirmation | None:
    """For a complex-step check, central differences of its `f` on the working tensors `f` reads
    (`tensors()`, in the order of the check's rows; complex, moved by real steps; f computed to a relative
    `precision`); None for a check by central differences. Made for every check, it does nothing until a
    row fails."""
    if method != "complex":
        return None
    central = Differentiator(f, branches, "central", precision=precision)

    def derivatives(i: int, probes: Probes) -> Derivatives:
        with warnings.catch_warnings():  # the working tensors are complex with no imaginary part: nothing is lost
            warnings.simplefilter("ignore", np.exceptions.ComplexWarning)
            return central.derivatives(tensors()[i], probes)

    return Confirmation(derivatives, max(threshold, default_threshold("central", dtype)))  # central resolves ~1e-7


def _confirmed(
    row: GradCheckRow, index: int, probes: Probes, g: Floats, numeric: Derivatives, confirmation: Confirmation,
    scale: float, batch: int,
) -> GradCheckRow:
    """The verdict on tensor `index`, whose `row` failed by the complex step. Central differences first
    differentiate it at the `CONFIRM_FIRST` probes where backward's `g` and the complex step differ
    most: where they agree with the complex step there, it is right and `row` stands. Where they do
    not, the complex step is wrong for this tensor (a function that is not complex-analytic, such as
    np.abs, between it and the cost), and central differences at every probe decide."""
    worst = np.sort(np.argsort(-np.abs(g - numeric.values), kind="stable")[:CONFIRM_FIRST])
    at_worst = confirmation.derivatives(index, probes.subset(worst))
    threshold = confirmation.threshold
    atol = zero_tolerance(threshold, scale, True)
    if at_worst.kinks is not None and compare(row.name, row.shape, probes.subset(worst), g[worst], at_worst,
                                              threshold=threshold, atol=atol, batch=batch).passed:
        return _by_central(row, index, probes, g, confirmation, scale, batch,
                           "on a kink, where the complex step takes the derivative of the point's own branch and "
                           "backward another subgradient")
    if compare(row.name, row.shape, probes.subset(worst), numeric.values[worst], at_worst, threshold=threshold,
               atol=atol, batch=batch).passed:
        return row
    why = ("not complex-step safe: a non-analytic function of the input, such as np.abs, gives the complex step a "
           "wrong derivative")
    everywhere = at_worst if len(worst) == len(probes) else None
    return _by_central(row, index, probes, g, confirmation, scale, batch, why,
                       f"; the complex step's relative error was {row.relative_error:.1e}", everywhere)


def _by_central(
    row: GradCheckRow, index: int, probes: Probes, g: Floats, confirmation: Confirmation, scale: float, batch: int,
    why: str, detail: str = "", central: Derivatives | None = None,
) -> GradCheckRow:
    """Tensor `index` judged by central differences at every probe (`central`, when already taken), for
    a tensor the complex step cannot judge (`why`, the note's first words)."""
    threshold = confirmation.threshold
    judged = compare(row.name, row.shape, probes, g, central or confirmation.derivatives(index, probes),
                     threshold=threshold, atol=zero_tolerance(threshold, scale, True),
                     batch=batch)
    note = (f"{why}; central differences' verdict is used for this tensor"
            f"{'' if judged.passed else ', and it fails too'} (threshold {threshold:.0e}{detail})")
    return attrs.evolve(judged, note="; ".join(n for n in (note, judged.note) if n))


UNREPORTED_KINKS = 16
"""At most this many wrong probes of a tensor that fails by central differences are asked whether they
sit on a kink that no layer reports (`_unreported_kinks`); more is a wrong backward, not kinks."""


def _unreported_kinks(
    row: GradCheckRow, way: Differentiator, tensor: Array, probes: Probes, g: Floats, numeric: Derivatives,
    threshold: float, atol: float, batch: int,
) -> GradCheckRow:
    """`row`, failed by central differences, compared again where its wrong probes sit on a kink that no
    layer reports (a custom layer without `branch`, whose steps straddle it unseen): there, the one-sided
    derivatives from the left and from the right (`Differentiator.slopes`), if they differ, bound the
    valid subgradients, as at a kink a layer reports."""
    slack = atol + 2 * numeric.uncertainty + threshold * (np.abs(g) + np.abs(numeric.values))
    wrong = np.flatnonzero(np.abs(g - numeric.values) > slack)
    if not 0 < wrong.size <= UNREPORTED_KINKS:
        return row
    kinks = np.full((len(probes), 2), np.nan) if numeric.kinks is None else numeric.kinks.copy()
    found = 0
    for i in wrong.tolist():
        slopes = way.slopes(tensor, probes, i) if np.isnan(kinks[i]).any() else None
        if slopes is not None and abs(slopes[0] - slopes[1]) > slack[i]:
            kinks[i], found = slopes, found + 1
    if not found:
        return row
    again = compare(row.name, row.shape, probes, g, attrs.evolve(numeric, kinks=kinks), threshold=threshold, atol=atol,
                    batch=batch)
    note = (f"{found} of its probes sit on a kink that no layer reports, found from one-sided differences (a custom "
            "layer reports its own with branch())")
    return attrs.evolve(again, note="; ".join(n for n in (again.note, note) if n))


def rows(
    items: Sequence[tuple[str, Array, Array, Probes]],
    ways: Sequence[TensorDifferentiator],
    threshold: float,
    batch: int,
    base: float,
    confirmation: Confirmation | None,
) -> tuple[GradCheckRow, ...]:
    """Differentiate each tensor of `items` (name, working tensor, backward's gradient, probes) by the
    matching entry of `ways`; `base` is the function's value at the base point. A complex-step row that
    fails is confirmed by central differences (`confirmation`) before it is called wrong."""
    results = []
    for (name, tensor, g, probes), way in zip(items, ways, strict=True):
        try:
            numeric, unsafe = way.derivatives(tensor, probes), ""
        except NotComplexSafe as e:
            nan = np.full(len(probes), np.nan)
            numeric, unsafe = Derivatives(nan, nan, 0, 0), str(e)
        results.append((name, tensor.shape, probes, probes.project(g), numeric, unsafe))
    magnitudes = [np.abs(np.concatenate([r[3], r[4].values])) for r in results if not r[5]]
    scale = max((float(np.nanmax(m, initial=0.0)) for m in magnitudes), default=0.0)
    if magnitudes:  # a gradient that is zero everywhere is judged against the rounding of f itself
        scale = max(scale, abs(base))
    rows = []
    for index, (name, shape, probes, g_probed, numeric, unsafe) in enumerate(results):
        tensor = items[index][1]
        atol = zero_tolerance(threshold, scale, confirmation is None, float(np.finfo(tensor.real.dtype).eps))  # None: central
        row = compare(name, shape, probes, g_probed, numeric, threshold=threshold, atol=atol, batch=batch)
        if unsafe and confirmation is not None:
            row = _by_central(row, index, probes, g_probed, confirmation, scale, batch, f"not complex-step safe: {unsafe}")
        elif unsafe:
            row = attrs.evolve(row, checked=0, max_abs_error=math.nan, relative_error=math.nan, passed=False,
                               note=f"not complex-step safe: {unsafe}")
        elif not row.passed and confirmation is not None:
            row = _confirmed(row, index, probes, g_probed, numeric, confirmation, scale, batch)
        elif not row.passed and isinstance(way := ways[index], Differentiator):
            row = _unreported_kinks(row, way, tensor, probes, g_probed, numeric, threshold, atol, batch)
        rows.append(row)
    return tuple(rows)
