"""What the gradient checker found: one row per tensor, and a verdict that names the wrong layer."""

import math

import attrs
import numpy as np

from framework.gradcheck.numeric import Floats, Method, Mode, Probes


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


def compare(
    name: str,
    shape: tuple[int, ...],
    probes: Probes,
    g: Floats,
    numeric: Floats,
    *,
    threshold: float,
    atol: float,
    batch: int,
    one_sided: int,
) -> GradCheckRow:
    """Compare backward's values `g` with the `numeric` ones at `probes`. The row passes when the
    relative error is within `threshold`, or when every difference is within `atol` (a tensor whose
    gradient is zero up to rounding)."""
    diff = np.abs(g - numeric)
    worst = int(np.argmax(diff)) if diff.size else 0
    denominator = float(np.linalg.norm(g) + np.linalg.norm(numeric))
    relative = float(np.linalg.norm(g - numeric)) / denominator if denominator else 0.0
    max_abs = float(diff.max()) if diff.size else 0.0
    passed = math.isfinite(relative) and (relative <= threshold or max_abs <= atol)
    if probes.entries is not None:
        where = str(tuple(int(i) for i in np.unravel_index(int(probes.entries[worst]), shape)))
    else:
        where = f"v{worst}"
    notes = [] if passed else [_diagnose(g, numeric, batch)]
    if one_sided:
        notes.append(f"{one_sided} probes crossed a kink: one-sided differences used there")
    return GradCheckRow(
        name, shape, len(probes), max_abs, relative, where, float(g[worst]), float(numeric[worst]), passed,
        "; ".join(n for n in notes if n),
    )


def _diagnose(g: Floats, numeric: Floats, batch: int) -> str:
    """Name the bug when backward/numeric is the same constant for every entry."""
    significant = np.abs(numeric) > 1e-6 * np.abs(numeric).max(initial=0.0)
    if not significant.any():
        return "the numerical gradient is zero here but backward's is not"
    if significant.sum() < 2:
        return ""
    ratios = g[significant] / numeric[significant]
    ratio = float(np.median(ratios))
    if not np.allclose(ratios, ratio, rtol=1e-3, atol=0):
        return ""
    for value, meaning in [
        (0.0, "backward gives zero: is the upstream gradient dropped?"),
        (-1.0, "sign flipped?"),
        (float(batch), "= the batch size m: missing 1/m?"),
        (1.0 / batch, "= 1/m: divided by m twice (a mean where a sum belongs)?"),
    ]:
        if abs(ratio - value) <= 1e-3 * max(abs(value), 1e-12) and (value not in (batch, 1.0 / batch) or batch > 1):
            return f"backward/numeric = {ratio:.6g} for every entry {meaning}"
    return f"backward/numeric = {ratio:.6g} for every entry: a constant factor is wrong"


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

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.rows) and all(p.passed for p in self.parts)

    @property
    def culprits(self) -> tuple[str, ...]:
        """The parts (layers, loss) whose own backward is wrong."""
        return tuple(p.subject for p in self.parts if not p.passed)

    @property
    def worst_relative_error(self) -> float:
        return max((r.relative_error for r in self.rows), default=0.0)

    def __str__(self) -> str:
        how = "complex step" if self.method == "complex" else "central differences"
        lines = [
            f"Gradient check of {self.subject} by {how}, {self.mode} mode: {'PASSED' if self.passed else 'FAILED'}",
            f"pass: relative error ||g - ĝ|| / (||g|| + ||ĝ||) <= {self.threshold:.0e} "
            "(g from backward, ĝ numerical)",
        ]
        for part in self.parts:
            if not part.passed:
                failed = ", ".join(
                    f"{r.name} (relative error {r.relative_error:.1e}{'; ' + r.note if r.note else ''})"
                    for r in part.rows
                    if not r.passed
                )
                lines.append(f"WRONG: the backward of {part.subject}: {failed}")
        if self.culprits:
            lines.append("Every other part passes on its own: the other failures follow from the wrong part(s).")
        elif self.parts and not self.passed:
            lines.append("Every part passes on its own: look at how the model connects them.")
        lines += _table([("", r) for r in self.rows])
        if self.parts:
            lines += ["", "Each part on its own (layers with a random upstream gradient):"]
            lines += _table([(p.subject, r) for p in self.parts for r in p.rows])
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def _table(rows: list[tuple[str, GradCheckRow]]) -> list[str]:
    header = ("tensor", "shape", "checked", "max abs err", "rel error", "worst at: backward vs numeric", "")
    body = [
        (
            f"{prefix} {r.name}".strip(),
            str(r.shape),
            str(r.checked),
            f"{r.max_abs_error:.2e}",
            f"{r.relative_error:.2e}",
            f"{r.worst}: {r.worst_backward:.6g} vs {r.worst_numeric:.6g}",
            "ok" if r.passed else "FAIL",
        )
        for prefix, r in sorted(rows, key=lambda pr: pr[1].passed)
    ]
    widths = [max(len(str(c)) for c in col) for col in zip(header, *body)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(header, widths)).rstrip()]
    for (prefix, r), cells in zip(sorted(rows, key=lambda pr: pr[1].passed), body):
        lines.append("  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip())
        if r.note:
            lines.append(f"    ^ {r.note}")
    return lines
