"""`check_function`: the gradients of any numpy cost, written by hand, checked numerically.

The cost is a black box, `cost(parameters) -> float`: the learner's forward pass and cost. Every
parameter that has a gradient in `grads` is differentiated entry by entry, by the complex step where
the cost keeps the imaginary part of a complex input (detected), by central differences otherwise.
Where an entry disagrees, the two one-sided slopes are taken: a value between them is a valid
subgradient at a kink (np.maximum(0, Z) at Z = 0), not an error.
"""

import math
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from html import escape
from typing import Any, Literal, TypeAlias, get_args

import attrs
import numpy as np
import numpy.typing as npt

from framework.core.arrays import Array, Mask, Scalar
from framework.core.display import paragraph, verdict_html
from framework.core.errors import DTypeError, NonFiniteError, ShapeError, ValueRangeError
from framework.core.validation import is_whole_number
from framework.gradcheck.numeric import EPS, Derivatives, Differentiator, Floats, Method, NotComplexSafe, Probes
from framework.gradcheck.report import GradCheckReport, GradCheckRow, compare
from framework.gradcheck.verdict import zero_tolerance
from framework.learner.inputs import check_shape, gradient_keys, real_copy
from framework.learner.precision import (
    EXTENDED, SHRINK, extended_complex_steps, extended_copies, extended_entry, extended_gap, extended_value,
)
from framework.learner.tolerances import KINK, ROUNDING, agreement, meaning, pass_threshold

Cost: TypeAlias = Callable[[dict[str, Array]], object]
"""The learner's forward pass and cost: a dict of arrays (float, or complex under the complex step) to a scalar."""
MethodChoice: TypeAlias = Literal["auto", "complex", "central"]
ModeChoice: TypeAlias = Literal["auto", "full", "sampled"]

FULL_UP_TO = 4096
"""In mode "auto", a tensor of up to this many entries is checked at every entry, a bigger one at
`samples` random entries (each entry is a call of the learner's cost: a 12288-wide W1 has 49,152)."""
ROUNDING_ENTRIES = 32
"""A row the complex step fails is asked again in extended precision at this many of its worst entries
(a cost call each)."""
FACTOR_ROUNDING = 1e-6
"""Yours and the numerical gradient differing by the same factor 1 ± this (or less) at every entry is the
rounding of one number the backward computes (a single sample's 1 - A), never a mistake: none scales a
gradient by so little."""
PRECISE = 1e-13
"""A cost off by no more than this in float64 (against extended precision) rounds no 1 - A that a factor
between yours and the numerical gradient could come from."""
UNCHECKABLE = 1e-3
"""A cost off by more than this in float64 (against extended precision) cannot have its gradient checked."""
ILL_CONDITIONED = 1e-8
"""A float64 complex step off by more than this from rounding alone marks a cost too ill-conditioned
for a failing row's verdict to be sure."""
KINK_ENTRIES = 32
"""At most this many disagreeing entries of a tensor are examined for a kink (7 cost calls each)."""
CALLER = "check_function"


@attrs.frozen
class FunctionReport:
    """What `check_function` found: `check` holds a row per gradient given (`row.name` is its key in
    grads), `why` says which method was used and why."""

    check: GradCheckReport
    why: str
    unchecked: tuple[str, ...] = ()
    """Parameters without a gradient in grads."""
    ignored: tuple[str, ...] = ()
    """Keys of grads that are intermediates (dZ1, dA2): check_backprop checks those."""
    calls: int = 0
    """How many times the cost was called."""
    rounding: tuple[tuple[str, float], ...] = ()
    """(key, relative error in extended precision) of the rows whose disagreement was the cost's own
    rounding: it shrank by far more than `SHRINK` when the cost ran in np.longdouble (a sigmoid saturated
    to 1 - A = 1e-9 under np.log(1 - A) loses 7 digits; a bug does not shrink)."""

    ill_conditioned: float = 0.0
    """The largest relative error that rounding alone gave a row: above `ILL_CONDITIONED`, a failing
    row's verdict is not sure."""
    cost_precision: float = 0.0
    """How far off the cost is in float64 (relative, against extended precision), asked when a row fails:
    above `UNCHECKABLE`, no gradient can be checked."""

    @property
    def rows(self) -> tuple[GradCheckRow, ...]:
        return self.check.rows

    @property
    def passed(self) -> bool:
        return self.check.passed

    @property
    def method(self) -> Method:
        return self.check.method

    @property
    def threshold(self) -> float:
        return self.check.threshold

    @property
    def worst_relative_error(self) -> float:
        return self.check.worst_relative_error

    @property
    def verdict(self) -> str:
        """'Close enough? ...' in words: the first wrong gradient (`_first_wrong`), how far off, and what
        that means."""
        how = "the complex step" if self.method == "complex" else "central differences"
        if self.passed:
            return agreement(self.rows, how, self.threshold, dict(self.rounding))
        first = _first_wrong(self.rows)
        words, rounding = meaning(first.relative_error, self.threshold), ROUNDING[self.method]
        if self.cost_precision > UNCHECKABLE:
            words = "not checkable at these parameters"
            rounding = ("your cost is exactly 0 in float64 here" if self.cost_precision == math.inf else
                        f"your cost itself is off by {self.cost_precision:.1g} in float64 here")
        elif self.ill_conditioned > ILL_CONDITIONED:
            words = "a bug, or your cost's rounding seen through a kink"
            rounding = f"rounding alone moved other rows by up to {self.ill_conditioned:.1e}"
        return (f"NOT close enough: {first.name} is off by a relative error of {first.relative_error:.2g} (at "
                f"{first.worst}: yours {first.worst_backward:.6g}, numerical {first.worst_numeric:.6g}): {words} "
                f"({rounding}; pass: {self.threshold:.0e}).")

    def _summary(self) -> list[str]:
        """The report above the check's: the verdict, what is wrong and right, the method and why, what
        was not checked."""
        wrong = [f"{r.name} ({r.note})" if r.note else r.name for r in self.rows if not r.passed]
        right = [r.name for r in self.rows if r.passed]
        lines = [self.verdict]
        if wrong:
            lines.append(f"Wrong: {'; '.join(wrong) if any(r.note for r in self.rows) else ', '.join(wrong)}.")
        lines.append(f"Right: {', '.join(right) or 'none'}.")
        lines.append(f"Method: {self.why}.")
        if self.unchecked:
            lines.append(f"Not checked (no gradient given): {', '.join(self.unchecked)}.")
        if self.ignored:
            lines.append(f"Ignored: {', '.join(self.ignored)} (intermediates: check_backprop checks them).")
        if not self.passed:
            lines.append("Which line is wrong? check_function sees only the cost; for a fully connected network, "
                         "check_backprop(parameters, grads, X, Y, activations) names it.")
        return lines

    def __str__(self) -> str:
        return "\n".join([*self._summary(), "", str(self.check), f"({self.calls:,} calls of the cost)"])

    def __repr__(self) -> str:
        wrong = sum(not r.passed for r in self.rows)
        how = "complex step" if self.method == "complex" else "central differences"
        return (f"<FunctionReport by {how}: {'PASSED' if self.passed else 'FAILED'}, {len(self.rows)} gradients "
                f"({wrong} wrong), worst relative error {self.worst_relative_error:.1e}>")

    def _repr_html_(self) -> str:
        """The report in a notebook: the verdict in colour and the method, then the check's own display."""
        verdict, *rest = self._summary()
        return (f'<div class="fw-function"><p class="fw-headline">{verdict_html(self.passed)} {escape(verdict)}</p>'
                f'{"".join(paragraph(line) for line in rest)}{self.check._repr_html_()}'
                f"{paragraph(f'({self.calls:,} calls of the cost)')}</div>")


def _first_wrong(rows: Sequence[GradCheckRow]) -> GradCheckRow:
    """The wrong row a learner reads first: the one nearest the output when every wrong one ends in its
    layer's number (dW3 before dW1: a mistake in a layer carries into the gradients of the layers
    below it, never above), the worst of that layer's; else the worst wrong row."""
    wrong = [r for r in rows if not r.passed]
    found = [re.search(r"\d+$", r.name) for r in wrong]
    if all(found):
        layer = {r.name: int(m.group()) for r, m in zip(wrong, found) if m}
        return max(wrong, key=lambda r: (layer[r.name], r.relative_error))
    return max(wrong, key=lambda r: r.relative_error)


def check_function(
    cost: Cost,
    parameters: Mapping[str, npt.NDArray[Any]],
    grads: Mapping[str, npt.NDArray[Any]],
    *,
    method: MethodChoice = "auto",
    mode: ModeChoice = "auto",
    samples: int = 32,
    seed: int = 0,
    threshold: float | None = None,
    m: int | None = None,
) -> FunctionReport:
    """Check hand-written gradients `grads` of `cost(parameters)` numerically, a row per gradient.

    `grads` is keyed by parameter name or by "d" + name (`dW1`); intermediates such as `dZ1` are
    ignored, and parameters without a gradient are listed as not checked. `method="auto"` uses the
    complex step where `cost` keeps the imaginary part of complex parameters (np.exp, np.log,
    np.maximum(0, Z) and comparisons do; float(), np.abs, np.real do not), central differences
    otherwise. `mode="auto"` checks every entry of a tensor of up to 4,096 entries and `samples`
    random entries of a bigger one ("full": every entry, one cost call each). `m`, the number of
    samples, names a missing 1/m; without it, a ratio that is a whole number k is said to be one if m = k. The
    learner's arrays are never touched: the cost sees copies.

    >>> X = np.array([[1.0, 2.0, -1.0]])
    >>> def cost(p):
    ...     return np.sum((p["w"] * X - 1) ** 2) / 3
    >>> w = np.array([[0.5]])
    >>> report = check_function(cost, {"w": w}, {"dw": 2 * np.sum((w * X - 1) * X, keepdims=True) / 3})
    >>> report.passed, report.method
    (True, 'complex')
    >>> check_function(cost, {"w": w}, {"dw": 2 * np.sum((w * X - 1) * X, keepdims=True)}).rows[0].passed
    False
    """
    _check_options(method, mode, samples, m)
    point, keys, ignored, given = _read(parameters, grads, m)
    dtype = np.result_type(*(np.asarray(grads[key]).dtype for key in keys.values()))
    f = _Cost(cost, point)
    base = f.base()
    chosen, why = _method(f, method, base, np.random.default_rng(seed))
    threshold = pass_threshold(dtype, chosen) if threshold is None else threshold
    rng = np.random.default_rng(seed)
    diff = Differentiator(f, _no_branches, chosen)
    probed = [_probe(f, diff, name, keys[name], given[name], mode, samples, rng) for name in keys]
    scale = max([abs(base)] + [float(np.nanmax(np.abs(np.concatenate([p.g, p.numeric.values])), initial=0.0))
                               for p in probed])
    eps = float(np.finfo(dtype).eps) if dtype.kind == "f" else EPS  # of the gradients' float dtype
    atol = zero_tolerance(threshold, scale, chosen == "central", eps)  # rounding, not the threshold, as check_gradients
    judged = [_row(f, diff, p, threshold, atol, m) for p in probed]
    rows = tuple(row for row, _ in judged)
    ill = max((row.relative_error for row, error in judged if error is not None), default=0.0)
    precision = f.precision() if not all(row.passed for row in rows) else 0.0
    rows = _unsure(rows, ill, precision)
    rounding = tuple((row.name, error) for row, error in judged if error is not None)
    sampled = any(len(p.probes) < p.size for p in probed)
    report = GradCheckReport("cost(parameters)", chosen, "sampled" if sampled else "full", threshold, rows)
    unchecked = tuple(n for n in point if n not in keys)
    return FunctionReport(report, why, unchecked, tuple(ignored), f.calls, rounding, ill, precision)


def _read(parameters: Mapping[str, npt.NDArray[Any]], grads: Mapping[str, npt.NDArray[Any]], m: int | None) \
        -> tuple[dict[str, Array], dict[str, str], list[str], dict[str, Array]]:
    """Copies of the parameters; {parameter: its key in grads}; the intermediate keys; copies of the
    gradients, each checked to have its parameter's shape."""
    items = _items(parameters)
    if all(n.startswith("d") for n, _ in items) and isinstance(grads, Mapping) and not any(str(k).startswith("d") for k in grads):
        raise ValueRangeError(f"{CALLER}: parameters holds {', '.join(n for n, _ in items[:4])}... and grads "
                              f"{', '.join(map(str, list(grads)[:4]))}...: are they swapped? (cost, parameters, grads)")
    point = {name: real_copy(CALLER, f"parameters[{name!r}]", value) for name, value in items}
    keys, ignored = gradient_keys(CALLER, grads, point)
    if not keys:
        raise ValueRangeError(f"{CALLER}: grads holds no gradient of a parameter (keys {list(grads)}): give one such as "
                              f"{'d' + next(iter(point))!r}")
    given: dict[str, Array] = {}
    for name, key in keys.items():
        given[name] = real_copy(CALLER, f"grads[{key!r}]", grads[key])
        check_shape(CALLER, key, given[name], point[name].shape, f"parameter {name!r}", m)
    return point, keys, ignored, given


def _unsure(rows: tuple[GradCheckRow, ...], worst: float, precision: float) -> tuple[GradCheckRow, ...]:
    """The failing rows, told when their verdict is not sure: the cost itself is off by more than
    `UNCHECKABLE` in float64 (`precision`), or rounding moved other rows' complex steps by `worst`, more
    than `ILL_CONDITIONED`, which on a kink cannot be asked again in extended precision."""
    if precision > UNCHECKABLE:
        off = ("is exactly 0 in float64 at these parameters (an output rounded to exactly 1?)" if precision == math.inf
               else f"is off by {precision:.1g} (relative) in float64 at these parameters, against extended precision "
                    "(log(A) or log(1 - A) with A within 1e-12 of 1?)")
        caution = (f"but your cost itself {off}, so no gradient can be checked here: scale the weights or the inputs "
                   "down, and check again")
    elif worst > ILL_CONDITIONED:
        caution = (f"but your cost rounds badly at these parameters (other rows were off by up to {worst:.1e} from its "
                   "rounding alone), and on a kink that cannot be told from a bug: scale the weights or the inputs "
                   "down until no sigmoid is within 1e-9 of 0 or 1, and check again")
    else:
        return rows
    return tuple(r if r.passed else attrs.evolve(r, note="; ".join(n for n in (r.note, caution) if n)) for r in rows)


class _Cost:
    """The learner's cost at `work` (copies of their parameters, moved in place by the checker),
    as a Python float or complex; counts its calls."""

    def __init__(self, cost: Cost, work: dict[str, Array]) -> None:
        if not callable(cost):
            raise DTypeError(f"{CALLER}: cost must be a function of the parameters dict, got a {type(cost).__name__}")
        self.cost, self.work, self.calls = cost, work, 0
        self._precision: float | None = None
        self.measured = False
        """Whether `precision` was measured against extended precision (not 0 for want of it)."""

    def __call__(self) -> Scalar:
        self.calls += 1
        moved_complex = any(a.dtype.kind == "c" for a in self.work.values())
        with np.errstate(all="ignore"):  # the learner's exp may overflow to a finite sigmoid: not ours to refuse
            try:
                value = self.cost(dict(self.work))
            except TypeError as e:
                if moved_complex:
                    raise NotComplexSafe(f"cost raised TypeError on complex parameters ({e})") from e
                raise
        return _scalar(value)

    def raw(self, work: dict[str, Array]) -> object:
        """The learner's cost at other arrays (extended precision), counted, as it returns it."""
        self.calls += 1
        return self.cost(work)

    def precision(self) -> float:
        """How far the cost at the learner's point is in float64 from its value in extended precision,
        relative (0 where that cannot be asked): a cost of 1e-16 from log(A) with A within 1e-16 of 1 is
        off by 100%; inf for a cost that is exactly 0 (an output rounded to 1, where its gradient is not 0).
        Asked once, when a row fails."""
        if self._precision is None:
            value = self().real
            exact = extended_value(self.raw, extended_copies(self.work)) if EXTENDED and value else None
            self._precision = (math.inf if value == 0 else 0.0 if exact is None or exact.real == 0 else
                               float(abs(value - exact.real) / abs(exact.real)))
            self.measured = exact is not None and exact.real != 0
        return self._precision

    def base(self) -> float:
        """The cost at the learner's point: a finite scalar, the same at a second call."""
        first, second = self(), self()
        if not math.isfinite(first.real):
            raise NonFiniteError(f"{CALLER}: cost(parameters) is {first} at the parameters given: check at a point "
                                 "where the cost is finite")
        if first != second:
            raise ValueRangeError(f"{CALLER}: cost(parameters) gave {first!r}, then {second!r}, at the same parameters: "
                                  "it must be a function of them alone (dropout? seed its random numbers inside cost)")
        return float(first.real)


def _no_branches() -> list[Mask | None]:
    return []  # a black box: its branches cannot be asked, so kinks are found from the one-sided slopes


def _scalar(value: object) -> Scalar:
    """The cost as a Python float or complex, or an error saying what came back instead."""
    if isinstance(value, np.generic) or (isinstance(value, np.ndarray) and value.ndim == 0):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, int | float | complex):
        shape = (f"an array of shape {value.shape}" if isinstance(value, np.ndarray) else
                 "None" if value is None else f"a {type(value).__name__}")
        hint = ": np.squeeze(cost), or cost.item()" if isinstance(value, np.ndarray) and value.size == 1 else ""
        hint = hint or (": return only the cost, such as compute_cost(forward(X, parameters)[0], Y)"
                        if isinstance(value, tuple) else ": a missing return?" if value is None else "")
        error = ShapeError if isinstance(value, np.ndarray) else DTypeError
        raise error(f"{CALLER}: cost(parameters) must return the cost, a scalar, got {shape}{hint}")
    return value if isinstance(value, complex) else float(value)


def _method(f: _Cost, method: MethodChoice, f0: float, rng: np.random.Generator) -> tuple[Method, str]:
    """The method to use and why: for "auto", the complex step if the cost keeps the imaginary part of a
    step along a random direction of every parameter, and gives there the slope that one-sided
    differences give along it (np.abs or np.real would keep a complex result but lose its meaning)."""
    if method == "complex":
        return "complex", "complex step (method='complex')"
    if method == "central":
        return "central", "central differences (method='central')"
    directions = {n: rng.standard_normal(t.shape) * max(1.0, float(np.sqrt(np.mean(t ** 2)))) for n, t in f.work.items()}
    h = 1e-20
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", np.exceptions.ComplexWarning)
            value = _along(f, directions, 1j * h)
        if not isinstance(value, complex):
            raise NotComplexSafe("it returned a real number for complex parameters (float()? np.real?)")
    except Exception as e:  # whatever the learner's code raises on complex numbers (an assert on the dtype)
        reason = str(e) if isinstance(e, NotComplexSafe) else f"{type(e).__name__} on complex parameters ({e})"
        return "central", f"central differences, because the cost is not complex-step safe: {reason}"
    slope = value.imag / h
    slopes: list[float] = []
    for eps in (1e-6, 1e-7, 1e-5):  # one-sided, second order, from the side the complex step looks at
        slopes.append((-3 * f0 + 4 * _along(f, directions, eps).real - _along(f, directions, 2 * eps).real) / (2 * eps))
        if abs(slope - slopes[-1]) <= 1e-5 * (abs(slope) + abs(slopes[-1])) + 1e-8 * max(1.0, abs(f0)):
            return "complex", ("complex step, because the cost keeps the imaginary part of complex parameters "
                               "(checked along a random direction against one-sided differences): exact to "
                               "machine precision")
    gaps, one_sided = [abs(slope - s) for s in slopes], slopes[0]
    extended = extended_gap(f.raw, f.work, directions)
    if extended is not None and SHRINK * extended <= min(gaps):
        return "complex", (f"complex step, because the cost keeps the imaginary part of complex parameters: along a "
                           f"random direction it differs from one-sided differences by {min(gaps):.1e}, but by "
                           f"{extended:.1e} when the cost runs in extended precision "
                           "(np.longdouble): that is the cost's own rounding (a sigmoid saturated near 1?), not a "
                           "lost imaginary part")
    if max(slopes) - min(slopes) >= min(gaps) / 4:  # a lost imaginary part is one wrong slope; rounding scatters
        return "complex", (f"complex step: along a random direction one-sided differences scatter from "
                           f"{min(slopes):.6g} to {max(slopes):.6g} over steps 1e-7 to 1e-5, too noisy to confirm its "
                           f"{slope:.6g}: the cost rounds at these parameters (a sigmoid saturated near 1?)")
    return "central", (f"central differences, because the cost is not complex-step safe: along a random direction the "
                       f"complex step gives {slope:.6g} and one-sided differences {one_sided:.6g} (np.abs? np.real? "
                       "a branch on a complex value? or np.maximum(0, Z) where Z is 0 exactly, a kink: it then "
                       "compares the imaginary parts)")


def _along(f: _Cost, directions: Mapping[str, Floats], offset: complex) -> Scalar:
    """The cost with every parameter moved by `offset` times its direction."""
    kept = dict(f.work)
    try:
        for name, v in directions.items():
            f.work[name] = kept[name] + offset * v
        return f()
    finally:
        f.work.update(kept)


@attrs.frozen
class _Probed:
    """One gradient's entries and their numerical derivatives (NaN where a cost was not finite)."""

    name: str
    key: str
    size: int
    """Entries of the tensor: more than the probes when it is sampled."""
    probes: Probes
    g: Floats
    numeric: Derivatives
    unsafe: str = ""


def _probe(f: _Cost, diff: Differentiator, name: str, key: str, g: Array, mode: ModeChoice, samples: int,
           rng: np.random.Generator) -> _Probed:
    """Differentiate the cost along the chosen entries of parameter `name`, on a working copy of its own
    (complex for the complex step: the other parameters stay real, which keeps their products cheap)."""
    size = g.size
    full = mode == "full" or (mode == "auto" and size <= FULL_UP_TO)
    probes = Probes.choose(g.shape, "full" if full else "sampled", samples, rng)
    real = f.work[name]
    t = real.astype(np.complex128) if diff.method == "complex" else real.copy()
    f.work[name] = t
    try:
        return _Probed(name, key, size, probes, probes.project(g), diff.derivatives(t, probes))
    except NotComplexSafe as e:
        nan = np.full(len(probes), np.nan)
        return _Probed(name, key, size, probes, probes.project(g), Derivatives(nan, nan, 0, 0),
                       f"not complex-step safe: {e}")
    finally:
        f.work[name] = real


def _row(f: _Cost, diff: Differentiator, p: _Probed, threshold: float, atol: float, m: int | None) \
        -> tuple[GradCheckRow, float | None]:
    """Compare, after clearing entries that sit on a kink; a row the complex step still fails is asked
    again in extended precision, and passes if its disagreement is the cost's rounding. The notes say
    which entries were cleared and why a row passed; the row's relative error in extended precision
    when it passed so, else None."""
    shape = f.work[p.name].shape
    if p.unsafe:
        return GradCheckRow(p.key, shape, 0, math.nan, math.nan, "-", 0.0, 0.0, False,
                            f"{p.unsafe}; use method='central' or 'auto'"), None
    numeric, kinks = _clear_kinks(f, p, threshold, atol)
    row = compare(p.key, shape, p.probes, p.g, numeric, threshold=threshold, atol=atol, batch=m or 1)
    rounding = _rounding(f, p, numeric, threshold, atol) if not row.passed and diff.method == "complex" else None
    notes = [row.note] if row.note and rounding is None else []
    if rounding is not None:
        row = attrs.evolve(row, passed=True)
        notes.append(f"your cost's own rounding: in float64 the complex step through it is off by up to "
                     f"{row.max_abs_error:.1e} here, and in extended precision (np.longdouble) it agrees with yours to "
                     f"a relative error of {rounding:.1e} (a sigmoid saturated near 1 under np.log(1 - A)?)")
    elif not row.passed and not EXTENDED and row.relative_error < 1e-5:
        notes.append("this small an error may be the cost's own rounding (a saturated sigmoid?): on this platform "
                     "np.longdouble is float64, so the check cannot ask the cost again in extended precision")
    ratio = None if row.passed else _common_ratio(p.g, numeric.values)
    by_factor = ratio is not None and abs(ratio - 1) <= _factor_rounding(f, ratio)
    if by_factor:
        assert ratio is not None
        row = attrs.evolve(row, passed=True)
        notes = [f"yours are the numerical values times 1 {'+' if ratio > 1 else '-'} {abs(ratio - 1):.2g} at every "
                 "entry: the rounding of one number your backward computes (1 - A for a sigmoid near 1?), not a mistake"]
    elif ratio is not None:
        notes += _ratio_notes(ratio, m, row.checked == 1)
    if row.passed and rounding is None and not by_factor and row.relative_error > threshold and diff.method == "complex":
        notes = [f"within rounding in absolute terms: every entry within {atol:.1e} of the complex step's (the threshold "
                 f"times the largest gradient or cost; this tensor's values are small beside them)"]
    if kinks:
        notes.append(kinks)
    if row.checked < len(p.probes):
        notes.append(f"{len(p.probes) - row.checked} entries where the cost was not finite nearby were not checked")
    if len(p.probes) < p.size:
        notes.append(f"sampled: {len(p.probes)} of {p.size:,} entries (mode='full' checks each, one cost "
                     "call an entry)")
    return attrs.evolve(row, note="; ".join(notes)), rounding


def _rounding(f: _Cost, p: _Probed, numeric: Derivatives, threshold: float, atol: float) -> float | None:
    """If every wrong entry (up to `ROUNDING_ENTRIES` of the worst) disagrees `SHRINK` times less when the
    complex step runs in extended precision, the relative error there, at those entries; else None."""
    assert p.probes.entries is not None
    values = numeric.values
    gap = np.where(np.isfinite(values), np.abs(p.g - values), 0.0)
    wrong = np.flatnonzero(gap > np.maximum(atol, threshold * (np.abs(p.g) + np.abs(values))))
    wrong = wrong[np.argsort(-gap[wrong])][:ROUNDING_ENTRIES]
    extended = extended_complex_steps(f.raw, f.work, p.name, p.probes.entries[wrong]) if wrong.size else None
    if extended is None or np.any(SHRINK * np.abs(p.g[wrong] - extended) > gap[wrong]):
        return None
    mine = p.g[wrong]
    return float(np.linalg.norm(mine - extended) / (np.linalg.norm(mine) + np.linalg.norm(extended)))


def _clear_kinks(f: _Cost, p: _Probed, threshold: float, atol: float) -> tuple[Derivatives, str]:
    """Where an entry disagrees, its left and right slopes (one-sided differences): if they differ and
    the learner's value lies between them, it is a valid subgradient at a kink, and counts as agreeing."""
    values = p.numeric.values.copy()
    diff = np.abs(p.g - values)
    wrong = np.flatnonzero(diff > np.maximum(atol, threshold * (np.abs(p.g) + np.abs(values))))
    assert p.probes.entries is not None
    cleared: list[tuple[int, float, float, float]] = []
    outside: tuple[int, float, float, float] | None = None
    """The first wrong entry on a kink whose value lies outside its one-sided slopes."""

    def slack(left: float, right: float, uncertainty: float) -> float:
        return float(KINK * max(abs(left), abs(right), abs(p.g[i])) + atol + 2 * uncertainty)

    def between(left: float, right: float, uncertainty: float) -> bool:
        gap = slack(left, right, uncertainty)
        return bool(abs(left - right) > gap and min(left, right) - gap <= p.g[i] <= max(left, right) + gap)

    for i in wrong[np.argsort(-diff[wrong])][:KINK_ENTRIES].tolist():
        k = int(p.probes.entries[i])
        slopes = _one_sided(f, p.name, k, extended=False)
        if not between(*slopes) and EXTENDED:  # a saturated cost rounds in steps in float64: ask again
            slopes = _one_sided(f, p.name, k, extended=True)
        if not between(*slopes):
            if abs(slopes[0] - slopes[1]) > slack(*slopes):
                outside = (k, slopes[0], slopes[1], float(p.g[i]))
            break
        values[i] = p.g[i]
        cleared.append((k, slopes[0], slopes[1], float(p.g[i])))
    if not cleared:
        return p.numeric, "" if outside is None else _outside_note(f, p.name, *outside)
    k, left, right, g = cleared[0]
    where = tuple(int(i) for i in np.unravel_index(k, f.work[p.name].shape))
    many = f"{len(cleared)} entries sit" if len(cleared) > 1 else "1 entry sits"
    ok = np.isfinite(p.numeric.values)
    mine, numeric = p.g[ok], p.numeric.values[ok]
    alone = float(np.linalg.norm(mine - numeric) / (np.linalg.norm(mine) + np.linalg.norm(numeric)))
    return attrs.evolve(p.numeric, values=values), (
        f"{many} on a kink, such as {where}: the slope is {left:.6g} from the left and {right:.6g} from the right, "
        f"and yours, {g:.6g}, lies between them: a valid subgradient (np.maximum(0, Z) at Z = 0?), not an error "
        f"(without this, a relative error of {alone:.2g})")


def _outside_note(f: _Cost, name: str, k: int, left: float, right: float, g: float) -> str:
    """The note of a wrong entry on a kink whose value is neither one-sided slope nor between them."""
    where = tuple(int(i) for i in np.unravel_index(k, f.work[name].shape))
    return (f"{where} sits on a kink: the slope is {left:.6g} from the left and {right:.6g} from the right, and "
            f"yours, {g:.6g}, lies outside them: no subgradient of your cost there. Where a ReLU at Z = 0 feeds "
            "another at Z = 0 (zero biases and an all-zero sample), the product of the masks is neither side's "
            "slope if a mask takes 1 at 0 (Z >= 0); np.where(Z > 0, ...) takes the slope from the left")


def _one_sided(f: _Cost, name: str, k: int, *, extended: bool) -> tuple[float, float, float]:
    """The slopes of the cost in flat entry k of parameter `name` from the left and from the right,
    second-order one-sided differences extrapolated over steps h and h/2, and their uncertainty; if
    `extended`, in extended precision where the cost keeps it (else float64)."""
    flat = f.work[name].reshape(-1)
    base = float(flat[k])
    h = 1e-5 * max(1.0, abs(base))

    def in_float64(offset: float) -> np.longdouble:
        flat[k] = base + offset
        try:
            return np.longdouble(f().real)
        finally:
            flat[k] = base

    at = (extended_entry(f.raw, f.work, name, k) if extended else None) or in_float64
    f0 = at(0.0)
    slopes, uncertainty = [], 0.0
    for side in (-1.0, 1.0):
        near, mid, far = at(side * h / 2), at(side * h), at(side * 2 * h)
        coarse = side * (-3 * f0 + 4 * mid - far) / (2 * h)  # f'(x) = ±(-3 f(x) + 4 f(x ± h) - f(x ± 2h)) / 2h
        fine = side * (-3 * f0 + 4 * near - mid) / h
        slopes.append(float((4 * fine - coarse) / 3))
        uncertainty = max(uncertainty, float(abs(fine - coarse)))
    return slopes[0], slopes[1], uncertainty


def _factor_rounding(f: _Cost, ratio: float) -> float:
    """How far from 1 a factor between yours and the numerical gradient is rounding: `FACTOR_ROUNDING`, or
    ten times the cost's own relative error in float64 where that is larger (and below `UNCHECKABLE`);
    none for a cost computed to `PRECISE` (nothing saturated: no 1 - A rounds), where a factor is a mistake."""
    precision = f.precision()
    if f.measured and precision <= PRECISE:
        return 0.0
    if abs(ratio - 1) <= FACTOR_ROUNDING:
        return FACTOR_ROUNDING
    return max(FACTOR_ROUNDING, 10 * precision) if precision <= UNCHECKABLE else FACTOR_ROUNDING


def _common_ratio(g: Floats, numeric: Floats) -> float | None:
    """yours / numerical when it is the same at every significant entry (to 1e-9 of each other: a factor
    such as m, -1 or 1 + 1e-10), else None."""
    ok = np.isfinite(numeric) & (np.abs(numeric) > 1e-6 * np.nanmax(np.abs(numeric), initial=0.0))
    ratios = g[ok] / numeric[ok]
    if ratios.size < 1 or not np.allclose(ratios, ratios[0], rtol=1e-9, atol=0):
        return None
    return float(np.median(ratios))


def _ratio_notes(ratio: float, m: int | None, single: bool) -> list[str]:
    """What a factor between yours and the numerical gradient says: a missing or doubled 1/m (for sure
    with m given, else if m is that whole number), a flipped sign; `compare` says it already for a tensor
    of several entries with m given."""
    if single and abs(ratio + 1) <= 1e-6:
        return ["yours is -1 times the numerical value: the sign is flipped?"]
    for k, how in ((ratio, "missing"), (1 / ratio if ratio else 0.0, "applied twice")):
        whole = round(k)
        if whole >= 2 and abs(k - whole) <= 1e-6 * k:
            if m is None:
                return [f"if m = {whole} is your number of samples, the 1/m is {how} (pass m= to say)"]
            if whole == m and single:
                return [f"yours is {'m' if how == 'missing' else '1/m'} times the numerical value (m = {m}): the 1/m "
                        f"is {how}"]
    return []


def _items(parameters: Mapping[str, npt.NDArray[Any]]) -> list[tuple[str, npt.NDArray[Any]]]:
    if not isinstance(parameters, Mapping) or not parameters:
        got = "an empty dict" if isinstance(parameters, Mapping) else f"a {type(parameters).__name__}"
        raise DTypeError(f"{CALLER}: parameters must be a dict of numpy arrays such as {{'W1': ..., 'b1': ...}}, got {got}")
    return [(str(name), value) for name, value in parameters.items()]


def _check_options(method: str, mode: str, samples: int, m: int | None) -> None:
    for what, value, allowed in (("method", method, get_args(MethodChoice)), ("mode", mode, get_args(ModeChoice))):
        if value not in allowed:
            raise ValueRangeError(f"{CALLER}: {what} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    if not (is_whole_number(samples) and samples >= 1):
        raise ValueRangeError(f"{CALLER}: samples must be a whole number of at least 1, got {samples!r}")
    if m is not None and not (is_whole_number(m) and m >= 1):
        raise ValueRangeError(f"{CALLER}: m must be the number of samples, a whole number of at least 1, got {m!r}")


__all__ = ["Cost", "FunctionReport", "check_function"]
