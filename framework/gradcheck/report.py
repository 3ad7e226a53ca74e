"""What the gradient checker found: one row per tensor, and a verdict that names the wrong layer."""

import math
from collections.abc import Sequence
from html import escape

import attrs
import numpy as np

from framework.core.display import html_table, paragraph, verdict_html
from framework.gradcheck.numeric import Derivatives, Floats, Method, Mode, Probes


@attrs.frozen
class GradCheckRow:
    """The comparison of backward's gradient `g` with the numerical one `ĝ` for one tensor."""

    name: str
    shape: tuple[int, ...]
    checked: int
    """Entries compared (full and sampled modes) or directions (directional mode)."""
    max_abs_error: float
    relative_error: float
    """||g - ĝ|| / (||g|| + ||ĝ||) over the entries or directions checked; 0 when both are 0."""
    worst: str
    """Where |g - ĝ| is largest: an index such as (12, 3), or a direction such as v3."""
    worst_backward: float
    worst_numeric: float
    passed: bool
    note: str = ""
    zero: bool = False
    """Backward's gradient is exactly 0 at every entry (or direction) checked, and so is the numerical
    one: exactly, or for central differences to within the row's absolute tolerance (the rounding a
    zero gradient is judged by), so that both methods call the same tensors zero."""
    path: str = ""
    """How the complex step ran this tensor's probes (`Derivatives.path`): "stacked, K at once", and
    which parts took them one at a time; "" for central differences."""


def compare(
    name: str,
    shape: tuple[int, ...],
    probes: Probes,
    g: Floats,
    numeric: Derivatives,
    *,
    threshold: float,
    atol: float,
    batch: int,
) -> GradCheckRow:
    """Compare backward's values `g` with the numerical ones at `probes`. The row passes when the
    relative error is within `threshold`, or when each difference is within `atol` (rounding of a
    gradient that is zero) plus twice the numerical estimate's own uncertainty. The row is `zero` when
    backward's values are exactly 0 and the numerical ones too, or, for central differences, within
    `atol` of 0."""
    checked = np.isfinite(numeric.values)
    values, kink_note = _at_kinks(g, numeric, threshold, atol)
    g, values, uncertainty, raw = g[checked], values[checked], numeric.uncertainty[checked], numeric.values[checked]
    diff = np.abs(g - values)
    worst = int(np.argmax(diff)) if diff.size else 0
    denominator = float(np.linalg.norm(g) + np.linalg.norm(values))
    relative = float(np.linalg.norm(g - values)) / denominator if denominator else 0.0
    max_abs = float(diff.max()) if diff.size else 0.0
    within_uncertainty = bool(np.all(diff <= atol + 2 * uncertainty))
    passed = math.isfinite(relative) and (relative <= threshold or within_uncertainty)
    if diff.size == 0:
        where = "-"
    elif probes.entries is not None:
        where = str(tuple(int(i) for i in np.unravel_index(int(probes.entries[checked][worst]), shape)))
    else:
        where = f"v{int(np.flatnonzero(checked)[worst])}"
    largest = float(np.abs(raw).max(initial=0.0))  # at a kink, the one-sided derivative of the point's branch
    zero = bool(diff.size) and not g.any() and (largest == 0 or (numeric.rounded and largest <= atol))
    every = "entry" if probes.entries is not None else "direction"
    notes = [] if passed else [_diagnose(g, values, batch, every)]
    if zero and largest == 0:
        notes.append(f"exactly 0 at every {every} checked, backward's gradient and the numerical one: "
                     "the check proves nothing about this tensor")
    elif zero:
        notes.append(f"backward's gradient is exactly 0 at every {every} checked and the numerical one is 0 to "
                     f"within rounding (at most {largest:.1e} from 0, within the tolerance {atol:.1e}): the check "
                     "proves nothing about this tensor")
    elif passed and relative > threshold and numeric.rounded and bool(np.all(np.maximum(np.abs(g), np.abs(values))
                                                                            <= atol + 2 * uncertainty)):
        notes.append(f"backward's gradient and the numerical one are both within what central differences resolve of "
                     f"0 here (at most {float(np.maximum(np.abs(g), np.abs(values)).max()):.1e}): the check proves "
                     "nothing about this tensor; method='complex' checks it")
    elif passed and relative > threshold:
        notes.append(f"each entry within {atol:.1e} (the rounding of a gradient about 0) and twice the numerical "
                     f"estimate's own error (up to {float(uncertainty.max(initial=0)):.1e})")
    if numeric.one_sided:
        notes.append(f"{numeric.one_sided} probes crossed a kink: one-sided differences used there")
    notes.append(kink_note)
    if numeric.unresolved:
        notes.append(
            f"{numeric.unresolved} probes crossed kinks on both sides at every step and were not checked "
            "(method='complex' checks them)"
        )
    return GradCheckRow(
        name, shape, int(checked.sum()), max_abs, relative, where,
        float(g[worst]) if diff.size else 0.0, float(values[worst]) if diff.size else 0.0, passed,
        "; ".join(n for n in notes if n), zero, numeric.path,
    )


def _at_kinks(g: Floats, numeric: Derivatives, threshold: float, atol: float) -> tuple[Floats, str]:
    """The numerical values to compare backward's with, and a note. Where the point sits on a kink,
    any value between the one-sided derivatives from the left and from the right is a subgradient:
    a backward value that is not the derivative of the point's own branch but lies in between is
    compared with itself (valid); one outside is named."""
    if numeric.kinks is None:
        return numeric.values, ""
    on = np.flatnonzero(np.isfinite(numeric.kinks).all(axis=1))
    low, high = numeric.kinks[on].min(axis=1), numeric.kinks[on].max(axis=1)
    slack = atol + 2 * numeric.uncertainty[on] + threshold * (np.abs(low) + np.abs(high))
    agrees = np.abs(g[on] - numeric.values[on]) <= slack  # the branch's own derivative: nothing to say
    inside = np.abs(g[on] - np.clip(g[on], low, high)) <= slack
    values = numeric.values.copy()
    values[on[~agrees & inside]] = g[on[~agrees & inside]]
    notes = []
    if (~agrees & inside).any():
        notes.append(f"at {int((~agrees & inside).sum())} probes on a kink backward's value is not the derivative of "
                     "the point's own branch but lies between the one-sided derivatives from the left and from the "
                     "right: a valid subgradient")
    if (~inside).any():
        k = int(np.flatnonzero(~inside)[0])
        notes.append(f"at {int((~inside).sum())} probes on a kink backward's value is not a subgradient: "
                     f"{float(g[on][k]):.6g} lies outside [{float(low[k]):.6g}, {float(high[k]):.6g}], the one-sided "
                     "derivatives from the left and from the right")
    return values, "; ".join(notes)


def _diagnose(g: Floats, numeric: Floats, batch: int, every: str = "entry") -> str:
    """Name the bug when backward/numeric is the same constant for every entry (of a failing row; or
    direction, `every`), or say where backward and the numerical gradient part when it is the same
    constant wherever the numerical gradient is not 0."""
    significant = np.abs(numeric) > 1e-6 * np.abs(numeric).max(initial=0.0)
    if not significant.any():
        return "the numerical gradient is zero here but backward's is not"
    if significant.sum() < 2:
        return ""
    ratios = g[significant] / numeric[significant]
    ratio = float(np.median(ratios))
    if not np.allclose(ratios, ratio, rtol=1e-3, atol=0):
        return ""
    stray = int(np.count_nonzero(np.abs(g - ratio * numeric)[~significant] > 1e-6 * np.abs(g).max()))
    if stray:  # the ratio holds where ĝ is not 0: the failure is where it is
        how = ("agrees with the numerical gradient" if abs(ratio - 1) <= 1e-3
               else f"is {ratio:.6g} times the numerical gradient")
        return (f"backward {how} wherever that is not 0, but at {stray} of {g.size} {'entries' if every == 'entry' else 'directions'} the numerical "
                "gradient is 0 and backward's is not: a missing mask or branch?")
    if abs(ratio - 1) <= 1e-3:  # a factor near 1, such as 1 + 1e-9: shown as its distance from 1
        excess = ratios - 1
        offset = float(np.median(excess))
        if not np.allclose(excess, offset, rtol=1e-3, atol=0):
            return ""
        sign = "+" if offset > 0 else "-"
        return f"backward/numeric = 1 {sign} {abs(offset):.3g} for every {every}: a constant factor is wrong"
    for value, meaning in [
        (0.0, ": backward gives zero where the numerical gradient is not; is the upstream gradient dropped?"),
        (-1.0, ": the sign is flipped?"),
        (float(batch), " = the batch size m: missing 1/m?"),
        (1.0 / batch, " = 1/m: divided by m twice (a mean where a sum belongs)?"),
    ]:
        if abs(ratio - value) <= 1e-3 * max(abs(value), 1e-12) and (value not in (batch, 1.0 / batch) or batch > 1):
            return f"backward/numeric = {ratio:.6g} for every {every}{meaning}"
    return f"backward/numeric = {ratio:.6g} for every {every}: a constant factor is wrong"


@attrs.frozen
class GradCheckReport:
    """The result of `check_gradients` or `check_layer`: `rows` in parameter order, and for a model,
    `parts`: each layer (and the loss) checked on its own, which is what localizes a bug."""

    subject: str
    method: Method
    mode: Mode
    threshold: float
    rows: tuple[GradCheckRow, ...]
    parts: tuple["GradCheckReport", ...] = ()
    warnings: tuple[str, ...] = ()
    cause: str = ""
    """The classic mistake that reproduces a wrong backward's values (`causes.layer_cause`), or ""; a
    model's: that of its first wrong part (`localize`)."""
    rounding: "GradCheckReport | None" = None
    """For a float32 model, whose `rows` check its logic on a float64 copy: its own float32 backward
    against the float64 one, at float32's threshold. None otherwise."""
    reference: str = ""
    """What backward's gradients are compared with when not a numerical derivative by `method` (the
    float64 backward, for `rounding`)."""

    @property
    def how(self) -> str:
        """By what the gradients are judged: "complex step", "central differences", or the `reference`."""
        return self.reference or ("complex step" if self.method == "complex" else "central differences")

    @property
    def passed(self) -> bool:
        return (all(r.passed for r in self.rows) and all(p.passed for p in self.parts)
                and (self.rounding is None or self.rounding.passed))

    @property
    def culprits(self) -> tuple[str, ...]:
        """The parts (layers, loss) whose own backward is wrong."""
        return tuple(p.subject for p in self.parts if not p.passed)

    @property
    def all_zero(self) -> bool:
        """Every tensor's gradient, backward's and the numerical one, is exactly 0 wherever it was
        checked: for a model, a dead network or a dead init, of which the check proves nothing."""
        return bool(self.rows) and all(r.zero for r in self.rows)

    @property
    def worst_relative_error(self) -> float:
        return max((r.relative_error for r in self.rows), default=0.0)

    def _summary(self) -> list[str]:
        """The top of the report: the verdict, the pass criterion, the warnings, and the diagnosis (the
        likely mistake, the wrong parts and what follows from them)."""
        lines = [
            f"Gradient check of {self.subject} by {self.how}, {self.mode} mode: {'PASSED' if self.passed else 'FAILED'}",
            f"pass: relative error ||g - ĝ|| / (||g|| + ||ĝ||) <= {self.threshold:.0e} "
            "(g from backward, ĝ numerical)",
            *(f"warning: {w}" for w in self.warnings),
            *([f"Likely mistake: {self.cause}"] if self.cause and not self.passed and not self.parts else []),
        ]
        for part in self.parts:
            if not part.passed:
                failed = ", ".join(
                    f"{r.name} (relative error {r.relative_error:.1e}{'; ' + r.note if r.note else ''})"
                    for r in part.rows
                    if not r.passed
                )
                lines.append(f"WRONG: the backward of {part.subject}: {failed}")
                if part.cause:
                    lines.append(f"Likely mistake: {part.cause}")
        if self.culprits and all(r.passed for r in self.rows):
            lines.append("Every other part passes on its own. The model's gradients pass at this point, but the "
                         "wrong part(s) fail their own check: see the note of each failing row.")
        elif self.culprits:
            lines.append("Every other part passes on its own: the other failures follow from the wrong part(s).")
        elif self.parts and not self.passed:
            lines.append("Every part passes on its own: look at how the model connects them.")
        return lines

    def _tables(self) -> list[tuple[str, list[tuple[str, GradCheckRow]], str]]:
        """The report's tables, each with its title ("" for the first) and a line under it: the model's
        rows (under them, the tensors whose probes were not stacked), each part's on its own, and the
        float32 rounding check."""
        slow = [f"{r.name} ({r.path})" for r in self.rows if "one by one through" in r.path]
        under = (f"probes run one by one through some parts (as exact, only slower; a custom layer can say its samples "
                 f"are independent, independent_samples = True, and give a parameter's moved outputs without a forward "
                 f"a probe, perturbed_outputs): {_listed(slow)}") if slow else ""
        tables = [("", [("", r) for r in self.rows], under)]
        if self.parts:
            tables.append(("Each part on its own (layers with a random upstream gradient):",
                           [(p.subject, r) for p in self.parts for r in p.rows], ""))
        if self.rounding is not None:
            verdict = "PASSED" if self.rounding.passed else "FAILED"
            title = (f"{self.rounding.subject}: the float32 backward against {self.rounding.how}, relative error <= "
                     f"{self.rounding.threshold:.0e}: {verdict} "
                     "(backward vs numeric below: float32 vs float64)")
            tables.append((title, [("", r) for r in self.rounding.rows], ""))
        return tables

    def __str__(self) -> str:
        lines = self._summary()
        for title, rows, under in self._tables():
            lines += ["", title] if title else []
            lines += _table(rows) + ([under] if under else [])
        return "\n".join(lines)

    def __repr__(self) -> str:
        failing = sum(not r.passed for r in self.rows)
        culprits = f"; wrong: {', '.join(self.culprits)}" if self.culprits else ""
        return (f"<GradCheckReport of {self.subject} by {self.how}: {'PASSED' if self.passed else 'FAILED'}, "
                f"{len(self.rows)} tensors ({failing} failing), worst relative error "
                f"{self.worst_relative_error:.1e}{culprits}>")

    def _repr_html_(self) -> str:
        """The report in a notebook: the verdict in colour, the diagnosis, then the tables, failures first
        in red, each row's note under it."""
        headline, *rest = self._summary()
        subject, _ = headline.rsplit(": ", 1)
        top = [f'<p class="fw-headline"><b>{escape(subject)}</b>: {verdict_html(self.passed)}</p>']
        top += [paragraph(line, "fw-warning" if line.startswith("warning: ") else
                          "fw-diagnosis" if line.startswith(("WRONG", "Likely", "Every")) else "fw-criterion")
                for line in rest]
        for title, rows, under in self._tables():
            top += [paragraph(title)] if title else []
            cells, classes = [], []
            for _, r, row in _cells(rows):
                cells.append(row)
                classes.append("fw-ok" if r.passed else "fw-fail")
                if r.note:
                    cells.append((f"^ {r.note}",))
                    classes.append("fw-note")
            top += [html_table(HEADER, cells, classes=classes)] + ([paragraph(under)] if under else [])
        return f'<div class="fw-gradcheck">{"".join(top)}</div>'


HEADER = ("tensor", "shape", "checked", "max abs err", "rel error", "worst at: backward vs numeric", "")


def _cells(rows: list[tuple[str, GradCheckRow]]) -> list[tuple[str, GradCheckRow, tuple[str, ...]]]:
    """The rows of a table, failures first: (prefix, row, its cells under `HEADER`)."""
    return [
        (
            prefix,
            r,
            (
                f"{prefix} {r.name}".strip(),
                str(r.shape),
                str(r.checked),
                f"{r.max_abs_error:.2e}",
                f"{r.relative_error:.2e}",
                f"{r.worst}: {r.worst_backward + 0.0:.6g} vs {r.worst_numeric + 0.0:.6g}",  # + 0.0: -0 shown as 0
                "ok" if r.passed else "FAIL",
            ),
        )
        for prefix, r in sorted(rows, key=lambda pr: pr[1].passed)
    ]


def _table(rows: list[tuple[str, GradCheckRow]]) -> list[str]:
    """A table as lines of text, its columns padded to the widest entry, each row's note under it."""
    cells = _cells(rows)
    widths = [max(len(c) for c in col) for col in zip(HEADER, *(row for _, _, row in cells))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(HEADER, widths)).rstrip()]
    for _, r, row in cells:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        if r.note:
            lines.append(f"    ^ {r.note}")
    return lines


def zero_warnings(rows: Sequence[GradCheckRow], *, model: bool, mode: Mode = "full") -> tuple[str, ...]:
    """The warning for the tensors whose every checked gradient, backward's and the numerical one, is
    exactly 0; for a `model` whose every parameter is such, the warning that the model is dead. Where
    only some entries were checked (sampled), it says so: the others may not be 0 (random directions
    that all give 0 do show a zero gradient)."""
    zero = [r for r in rows if r.zero]
    if not zero:
        return ()
    partial = [] if mode == "directional" else [r for r in zero if r.checked < math.prod(r.shape)]
    if model and len(zero) == len(rows) and not partial:
        return ("every parameter's gradient is exactly zero: a dead network (all ReLUs off?) or a dead init; "
                "the check proves nothing",)
    rounded = any(r.max_abs_error > 0 for r in zero)  # central differences' 0, to within rounding
    both = "backward's, and the numerical one to within rounding" if rounded else "backward's and the numerical one"
    warnings = []
    whole = [r.name for r in zero if r not in partial]
    if whole:
        them = "it" if len(whole) == 1 else "them"
        warnings.append(f"every gradient of {_listed(whole)} is exactly 0 ({both}): the loss does not depend on "
                        f"{them} at this point (ReLUs off?), so the check proves nothing about {them}")
    if partial:
        counts = _listed([f"{r.name} ({r.checked} of {math.prod(r.shape):,})" for r in partial])
        warnings.append(f"the entries checked of {counts} are all exactly 0 ({both}), so the check proves "
                        "nothing about those tensors: the other entries may not be 0; check more (mode='full', or "
                        "more samples)")
    return tuple(warnings)


def _listed(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
