"""`check_backprop`: a learner's backprop of a fully connected network, checked against its twin.

The twin is the same network built from the framework's verified layers, with the learner's
weights: it gives the true value of every quantity of the backward (dA, dZ, dW, db of each layer).
Every key the learner gives is compared with it; the first wrong one in backward order is the
culprit, and the mistake catalogue names the cause when injecting a mistake into the twin
reproduces the learner's value.
"""

import contextlib
import itertools
import re
from collections.abc import Iterator, Mapping, Sequence
from html import escape
from typing import Any, Literal, TypeAlias

import attrs
import numpy as np
import numpy.typing as npt

from framework.core.arrays import Array
from framework.core.display import html_table, paragraph, verdict_html
from framework.core.errors import NonFiniteError, ValueRangeError
from framework.core.validation import a_kind
from framework.gradcheck.numeric import Derivatives, Floats, Probes
from framework.gradcheck.report import GradCheckRow, compare
from framework.learner.inputs import check_shape, real_copy, suggestion
from framework.gradcheck.mistakes import CATALOGUE, RIGHT, Convention, Mistake
from framework.learner.tolerances import ROUNDING, agreement, meaning, pass_threshold
from framework.learner.twin import Layout, Network, Position, Twin, backward_order, name_of, parent, read_network

CALLER = "check_backprop"
LayoutChoice: TypeAlias = Literal["auto", "course", "batch-first"]
CONVENTIONS: dict[Convention, str] = {
    "course": "the course's: dZ and dA per sample, the 1/m applied when forming dW and db",
    "dJ/dZ": "dJ/dZ: dZ and dA are derivatives of the cost, the 1/m inside dZ (and dA)",
}
_KEY = re.compile(r"(d?)([WbZA])([0-9]+|L)")


@attrs.frozen
class Finding:
    """A catalogue entry that reproduces the learner's value of `key` when injected at `where`."""

    key: str
    """The learner's first wrong quantity it explains."""
    where: str
    """The quantity it makes wrong, in the learner's names (dZ3: maybe one the learner did not give)."""
    mistake: str
    sentence: str
    valid: bool = False


@attrs.frozen
class BackpropReport:
    """What `check_backprop` found: `rows` in backward order, one per key of grads (`row.name`), compared
    with the twin; `culprit` the first wrong one; `cause` the classic mistake that reproduces it."""

    rows: tuple[GradCheckRow, ...]
    findings: tuple[Finding, ...]
    layout: Layout
    layout_reason: str
    convention: Convention | None
    convention_reason: str
    threshold: float
    explained: bool
    """Whether, with the findings' mistakes injected, the twin reproduces every quantity given."""
    warnings: tuple[str, ...] = ()
    hint: str | None = None
    """Why the dW are wrong when no mistake of the catalogue says it: an L2 term the check was not told of."""

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.rows)

    @property
    def right(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.rows if r.passed)

    @property
    def wrong(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.rows if not r.passed)

    @property
    def culprit(self) -> str | None:
        """The first wrong quantity in backward order, or None."""
        return next((r.name for r in self.rows if not r.passed), None)

    @property
    def cause(self) -> str | None:
        """The classic mistake that reproduces the culprit, in one line (two where two mistakes together
        do), or None when the catalogue has none that does."""
        sentences = [f.sentence for f in self.findings if f.key == self.culprit and not f.valid]
        if not sentences and self.hint and self.culprit and self.culprit.startswith("dW"):
            return self.hint
        return ". And ".join(sentences) if sentences else None

    def _grouped(self, valid: bool = False) -> list[tuple[bool, str]]:
        """(whether it explains the culprit, sentence) for each mistake found (or valid choice), the same
        in other layers named once after it ("The same in dW2, dW1.")."""
        groups: dict[str, list[Finding]] = {}
        for f in self.findings:
            if f.valid is valid:
                groups.setdefault(f.mistake, []).append(f)
        lines = []
        for found in groups.values():
            more = [f.where for f in found[1:]]
            lines.append((found[0].key == self.culprit,
                          found[0].sentence + (f". The same in {', '.join(more)}" if more else "")))
        return lines

    @property
    def causes(self) -> tuple[str, ...]:
        """Every mistake found, in backward order."""
        return tuple(f.sentence for f in self.findings if not f.valid)

    @property
    def verdict(self) -> str:
        """'Close enough?' in words."""
        if self.passed:
            text = agreement(self.rows, "the twin", self.threshold).replace(
                "Close enough: yes. ", f"Close enough: yes. All {len(self.rows)} quantities you gave: ", 1)
            return text + "".join(f" But: {w}." for w in self.warnings)
        row = next(r for r in self.rows if not r.passed)
        return (f"NOT close enough: {row.name} is wrong, a relative error of {row.relative_error:.2g}: "
                f"{meaning(row.relative_error, self.threshold)} ({ROUNDING['twin']}; pass: {self.threshold:.0e}); "
                f"at {row.worst}, yours is {row.worst_backward:.6g}, the true value {row.worst_numeric:.6g}.")

    def _summary(self) -> list[str]:
        """The report above its table: the verdict, what is right and wrong, the culprit and the causes,
        the layout and the convention."""
        lines = [self.verdict]
        if not self.passed:
            lines += [f"Right: {', '.join(self.right) or 'none'}.", f"Wrong: {', '.join(self.wrong)}."]
            lines.append(self._where())
            grouped = self._grouped()
            causes = [sentence for culprit, sentence in grouped if culprit] or ([self.cause] if self.cause else [])
            start = ("what the rows' notes say of yours against the true values" if any(
                r.note for r in self.rows if not r.passed) else "the culprit's, yours against the true value in its row")
            lines.append(f"Cause: {'. And '.join(causes)}." if causes else
                         f"Cause: none of the classic mistakes in the catalogue reproduces it; compare your lines by "
                         f"hand, starting from {start}.")
            lines += [f"Also: {sentence}." for culprit, sentence in grouped if not culprit]
            if self.findings and not self.explained:
                lines.append("What is still wrong after these is not a classic mistake: compare those lines by hand.")
        lines += [f"Note: {sentence}." for _, sentence in self._grouped(valid=True)]
        return lines + [f"Layout: {self.layout_reason}.", f"Convention: {self.convention_reason}."]

    def __str__(self) -> str:
        return "\n".join([*self._summary(), "", *_table(self.rows), *(f"warning: {w}" for w in self.warnings)])

    def __repr__(self) -> str:
        culprit = f"; culprit {self.culprit}" if self.culprit else ""
        return (f"<BackpropReport: {'PASSED' if self.passed else 'FAILED'}, {len(self.rows)} quantities "
                f"({len(self.wrong)} wrong){culprit}>")

    def _repr_html_(self) -> str:
        """The report in a notebook: the verdict in colour, the culprit and the causes, then the table in
        backward order (the order that locates the wrong line), wrong rows in red, each note under its row."""
        verdict, *rest = self._summary()
        cells: list[tuple[str, ...]] = []
        classes = []
        for r, row in zip(self.rows, _cells(self.rows)):
            cells.append(row)
            classes.append("fw-ok" if r.passed else "fw-fail")
            if r.note:
                cells += [(f"^ {r.note}",)]
                classes.append("fw-note")
        return (f'<div class="fw-backprop"><p class="fw-headline">{verdict_html(self.passed)} {escape(verdict)}</p>'
                f'{"".join(paragraph(line) for line in rest)}{html_table(HEADER, cells, classes=classes)}'
                f'{"".join(paragraph(f"warning: {w}", "fw-warning") for w in self.warnings)}</div>')

    def _where(self) -> str:
        culprit = self.culprit
        names = [r.name for r in self.rows]
        before = [r.name for r in self.rows[:names.index(culprit)] if r.passed] if culprit else []
        if before:
            return (f"Culprit: {culprit}, the first wrong quantity in backward order; {before[-1]}, before it, is "
                    f"right: the wrong line is between the one that computes {before[-1]} and the one that "
                    f"computes {culprit}.")
        return (f"Culprit: {culprit}, the first wrong quantity in backward order: the wrong line is the one that "
                f"computes it, or one before it whose value you did not give.")


def check_backprop(
    parameters: Mapping[str, npt.NDArray[Any]],
    grads: Mapping[str, npt.NDArray[Any]],
    X: npt.NDArray[Any],
    Y: npt.NDArray[Any],
    activations: Sequence[str],
    *,
    lambd: float = 0.0,
    layout: LayoutChoice = "auto",
    threshold: float | None = None,
) -> BackpropReport:
    """Check a hand-written backprop of the standard fully connected network, quantity by quantity.

    `parameters` holds W1, b1, ..., WL, bL; `activations` one name a layer ("relu", "sigmoid", "tanh",
    "linear", "softmax"); the last implies the cost, J = 1/m Σ over samples and output units of the
    cross-entropy (sigmoid), the categorical cross-entropy (softmax) or the squared error (linear),
    plus lambd/(2m) Σ ||W||² (L2). `grads` may hold dW{l}, db{l} and the intermediates dZ{l} and
    dA{l} (dAL for the output); each is compared with the twin's. Both layouts (the course's,
    W (n_l, n_{l-1}), and batch-first, W (n_{l-1}, n_l)) are detected from the shapes, and both
    conventions for dZ and dA (per sample, or with the 1/m inside) from the values.

    >>> rng = np.random.default_rng(0)
    >>> X, Y = rng.standard_normal((3, 8)), rng.integers(0, 2, (1, 8)).astype(float)
    >>> W1, b1 = rng.standard_normal((1, 3)), np.zeros((1, 1))
    >>> A1 = 1 / (1 + np.exp(-(W1 @ X + b1)))
    >>> dZ1 = A1 - Y
    >>> report = check_backprop({"W1": W1, "b1": b1}, {"dZ1": dZ1, "dW1": dZ1 @ X.T}, X, Y, ["sigmoid"])
    >>> report.culprit, report.right
    ('dW1', ('dZ1',))
    >>> report.cause
    'dW1 is 8 times too large: the 1/m is missing: dW1 = 1/m * np.dot(dZ1, X.T)'
    """
    net = read_network(CALLER, parameters, X, Y, activations, lambd, layout)
    given = _given(grads, net)
    dtype = np.result_type(*(np.asarray(grads[key]).dtype for key, _ in given.values()))
    threshold = pass_threshold(dtype, "twin") if threshold is None else threshold
    twin, truth, rounding = _truth(net)
    intermediates = any(p[0] in ("dAL", "dZ", "dA_prev") for p in given)
    best = _reading(twin, truth, [_Judge.of(net, given, c, rounding, threshold) for c in
                                  (("course", "dJ/dZ") if intermediates and net.m > 1 else (None,))])
    warnings = ("m = 1: a missing 1/m is invisible (and the two conventions for dZ and dA agree); check with "
                "several samples",) if net.m == 1 else ()
    hint = _forgotten_lambd(net, given, truth) if not all(r.passed for r in best.rows) else None
    return BackpropReport(best.rows, best.findings, net.layout, net.layout_reason, best.convention,
                          _convention_reason(best, intermediates, net.m), threshold,
                          best.explained == len(given), warnings, hint)


def _forgotten_lambd(net: Network, given: dict[Position, tuple[str, Array]], truth: dict[Position, Array]) -> str | None:
    """When every dW given is off from the truth by c W, the same c = lambd/m > 0 for each (to 1e-6): an L2
    term in the learner's dW that the check was not told of (lambd left at 0), or told of with another lambd."""
    found: list[tuple[str, float]] = []
    for position, (key, value) in given.items():
        if position[0] != "dW":
            continue
        W, off = net.W[position[1] - 1], net.from_learner(position, value, None) - truth[position]
        c = float(np.vdot(off, W) / np.vdot(W, W)) if np.any(W) else 0.0
        if not (c > 0 and np.linalg.norm(off - c * W) <= 1e-6 * np.linalg.norm(off)):
            return None
        found.append((key, net.lambd + c * net.m))
    if not found or not np.allclose([lambd for _, lambd in found], found[0][1], rtol=1e-6, atol=0):
        return None
    keys, lambd = ", ".join(k for k, _ in found), found[0][1]
    told = "without lambd (so lambd = 0)" if net.lambd == 0 else f"with lambd={net.lambd:g}"
    return (f"{keys} {'holds' if len(found) == 1 else 'hold'} the L2 term lambd/m * W of lambd = {lambd:.6g}, but "
            f"check_backprop was called {told}: if your cost has lambd/(2m) Σ||W||², pass lambd={lambd:.6g}")


@contextlib.contextmanager
def _at_these_weights() -> Iterator[None]:
    """A NonFiniteError raised inside, said to be the network's at the weights given."""
    try:
        yield
    except NonFiniteError as e:
        raise NonFiniteError(f"{CALLER}: the network's values are not finite at these weights: {e}") from e


def _truth(net: Network) -> tuple[Twin, dict[Position, Array], dict[Position, Array]]:
    """The twin, its values (the truth) and their rounding bounds; an error where they are not finite."""
    with _at_these_weights():
        twin = Twin(net)
    _refuse_saturated(twin, net)  # its own message: which output saturated, and why
    with _at_these_weights():
        truth = twin.backward({})
        assert truth is not None
        rounding = twin.rounding(truth)
    for position, value in truth.items():
        if not np.all(np.isfinite(value)):
            raise NonFiniteError(f"{CALLER}: the true {name_of(position)} is not finite at these weights: a saturated "
                                 f"output (A{net.layers} = 1 exactly where Y = 0?); check where the cost is finite")
    return twin, truth, rounding


def _refuse_saturated(twin: Twin, net: Network) -> None:
    """A NonFiniteError where the output is exactly 0 or 1 in float64 for a sample whose label puts the
    cross-entropy's log there: the cost is infinite, and no backward can be right or wrong."""
    last = net.activations[-1]
    if last == "linear":
        return
    _, z, a = twin.cache[-1]
    bad = (net.Y > 0) & (a == 0) if last == "softmax" else ((net.Y < 1) & (a == 1)) | ((net.Y > 0) & (a == 0))
    if bad.any():
        sample, unit = (int(i) for i in np.argwhere(bad)[0])
        L = net.layers
        where = f"A{L}[{unit}, {sample}]" if net.layout == "course" else f"A{L}[{sample}, {unit}]"
        log = f"log(A{L})" if a[sample, unit] == 0 else f"log(1 - A{L})"
        raise NonFiniteError(f"{CALLER}: the output {where} is exactly {a[sample, unit]:g} in float64 (Z{L} = "
                             f"{z[sample, unit]:.4g}) for a sample labelled {net.Y[sample, unit]:g}, so the cost's "
                             f"{log} is infinite there and no gradient can be checked: check at smaller weights or "
                             f"inputs ({int(bad.sum())} such output{'s' if bad.sum() > 1 else ''})")


def _reading(twin: Twin, truth: dict[Position, Array], judges: list["_Judge"]) -> "_Reading":
    """The learner's values read in each convention, the likelier first (a perfect reading ends the
    search): the one that explains the most quantities with the fewest mistakes."""
    order = judges[0].order
    first = next((p for p in order if p[0] in ("dAL", "dZ", "dA_prev")), None)
    judges = sorted(judges, key=lambda j: first is None or not j.agrees(first, truth))
    readings: list[_Reading] = []
    for judge in judges:
        readings.append(_Reading.of(twin, judge))
        if readings[-1].perfect:
            break
    return max(readings, key=lambda r: (r.explained, -r.mistakes, len(r.right), r.convention != "dJ/dZ"))


def _given(grads: Mapping[str, npt.NDArray[Any]], net: Network) -> dict[Position, tuple[str, Array]]:
    """{position: (the learner's key, their value)} for every key of grads, checked."""
    if not isinstance(grads, Mapping) or not grads:
        raise ValueRangeError(f"{CALLER}: grads must be a non-empty dict such as {{'dW1': ..., 'db1': ...}}, "
                              f"got {a_kind(grads) if grads else 'an empty dict'}")
    given: dict[Position, tuple[str, Array]] = {}
    for key, value in grads.items():
        position = _position(str(key), net.layers)
        if position in given:
            raise ValueRangeError(f"{CALLER}: grads has both {given[position][0]!r} and {key!r} for the same quantity")
        array = real_copy(CALLER, f"grads[{key!r}]", value)
        check_shape(CALLER, str(key), array, net.shape(position), _shape_of(position, net), net.m)
        given[position] = str(key), array
    return given


def _position(key: str, layers: int) -> Position:
    """The quantity a key names: dW3 or W3, db3 or b3, dZ3, dA3 or dAL, dA0 (the input's)."""
    match = _KEY.fullmatch(key)
    known = [f"d{q}{layer}" for layer in range(1, layers + 1) for q in "WbZ"] + [f"dA{i}" for i in range(layers + 1)]
    bare = match is not None and match.group(2) in "ZA" and not match.group(1)  # Z3 or A3: values, not gradients
    if match is None or bare or (match.group(3) == "L" and match.group(2) != "A"):
        raise ValueRangeError(f"{CALLER}: grads[{key!r}] is no quantity of the backward{suggestion(key, known)}")
    letter, index = match.group(2), match.group(3)
    layer = layers if index == "L" else int(index)
    lowest = 0 if letter == "A" else 1
    if not lowest <= layer <= layers:
        raise ValueRangeError(f"{CALLER}: grads[{key!r}]: the network has {layers} layers (W1 to W{layers}), so "
                              f"d{letter} goes from d{letter}{lowest} to d{letter}{layers}")
    if letter == "A":
        return ("dAL", layer) if layer == layers else ("dA_prev", layer + 1)
    return {"W": "dW", "b": "db", "Z": "dZ"}[letter], layer  # type: ignore[return-value]


def _shape_of(position: Position, net: Network) -> str:
    """What a quantity's shape is that of, in words: 'W3', 'Z3', 'X'."""
    quantity, layer = position
    if quantity in ("dW", "db"):
        return quantity[1] + str(layer)
    if quantity == "dA_prev":
        return "X" if layer == 1 else f"A{layer - 1}"
    return f"{'Z' if quantity == 'dZ' else 'A'}{layer}"


@attrs.frozen
class _Reading:
    """The learner's values read in one convention: compared with the twin, and explained by mistakes."""

    convention: Convention | None
    rows: tuple[GradCheckRow, ...]
    findings: tuple[Finding, ...]
    explained: int
    """How many of the given quantities the twin reproduces with the findings' mistakes injected."""

    @property
    def right(self) -> list[str]:
        return [r.name for r in self.rows if r.passed]

    @property
    def mistakes(self) -> int:
        return sum(not f.valid for f in self.findings)

    @property
    def perfect(self) -> bool:
        """Every quantity right, no mistake: no other convention can read the values better."""
        return self.mistakes == 0 and len(self.right) == len(self.rows)

    @classmethod
    def of(cls, twin: Twin, judge: "_Judge") -> "_Reading":
        net, given = judge.net, judge.given
        injected: dict[Position, Mistake[Any]] = {}
        findings: list[Finding] = []
        values = twin.backward(injected)
        assert values is not None
        while (first := judge.first_wrong(values)) is not None:
            hit = _search(twin, judge, injected, first)
            if hit is None:
                break
            injected.update(hit)
            values = twin.backward(injected)
            assert values is not None
            order = backward_order(net.layers)
            findings += [Finding(given[first][0], judge.name(p), mistake.name, mistake.say(judge.names(p)),
                                 mistake.valid) for p, mistake in sorted(hit.items(), key=lambda h: order.index(h[0]))]
        reference = twin.backward({p: mistake for p, mistake in injected.items() if mistake.valid})
        assert reference is not None
        rows = tuple(judge.row(p, reference) for p in judge.order)
        mistaken = any(not mistake.valid for mistake in injected.values())
        explained = sum(judge.agrees(p, values) for p in judge.order) if mistaken else sum(r.passed for r in rows)
        return cls(judge.convention, rows, tuple(findings), explained)


@attrs.frozen
class _Judge:
    """Compares the learner's values with the twin's, in the learner's layout and convention, and says
    a position in the learner's names."""

    net: Network
    given: dict[Position, tuple[str, Array]]
    convention: Convention | None
    rounding: dict[Position, Array]
    threshold: float
    mine: dict[Position, Array]
    """The learner's values as the twin's (batch first, dJ/dZ convention), to compare without converting."""
    order: list[Position]

    @classmethod
    def of(cls, net: Network, given: dict[Position, tuple[str, Array]], convention: Convention | None,
           rounding: dict[Position, Array], threshold: float) -> "_Judge":
        mine = {p: net.from_learner(p, value, convention) for p, (_, value) in given.items()}
        return cls(net, given, convention, rounding, threshold, mine,
                   [p for p in backward_order(net.layers) if p in given])

    def row(self, position: Position, values: dict[Position, Array]) -> GradCheckRow:
        """The learner's value against the twin's, in the learner's layout (for the worst entry's index)."""
        key, mine = self.given[position]
        true = self.net.to_learner(position, values[position], self.convention)
        rounding = np.abs(self.net.to_learner(position, self.rounding[position], self.convention))
        return self._compare(key, mine, true, rounding)

    def _compare(self, key: str, mine: Array, true: Array, rounding: Array) -> GradCheckRow:
        """`compare`, with the rounding bound of each entry as the twin's uncertainty; the values scaled by
        a power of 2 (exactly) so that huge or tiny ones compare too."""
        largest = float(np.abs(true).max(initial=0.0))
        size = max(largest, float(np.abs(mine).max(initial=0.0)))
        scale = 2.0 ** -np.frexp(size)[1] if size and not 1e-100 < size < 1e100 else 1.0
        if scale != 1.0:
            true, mine, rounding = true * scale, mine * scale, rounding * scale
        row = compare(key, mine.shape, Probes(entries=np.arange(mine.size)), _floats(mine),
                      Derivatives(_floats(true), _floats(rounding), 0, 0), threshold=self.threshold,
                      atol=self.threshold * largest * scale, batch=self.net.m)
        if scale != 1.0:
            row = attrs.evolve(row, max_abs_error=row.max_abs_error / scale, worst_backward=row.worst_backward / scale,
                               worst_numeric=row.worst_numeric / scale)
        if row.passed:
            note = (f"within the rounding of A{self.net.layers} (a saturated output)"
                    if row.relative_error > self.threshold else "")
            return attrs.evolve(row, note=note)
        return attrs.evolve(row, note=row.note.replace("backward/numeric", "yours/true"))

    def agrees(self, position: Position, values: dict[Position, Array]) -> bool:
        """Whether the learner's value is the twin's up to rounding (compared in the twin's layout)."""
        return self._compare("", self.mine[position], values[position], self.rounding[position]).passed

    def first_wrong(self, values: dict[Position, Array]) -> Position | None:
        return next((p for p in self.order if not self.agrees(p, values)), None)

    def name(self, position: Position) -> str:
        """The learner's name for a quantity: their key where they gave it (dAL or dA3), else dZ3, dA2."""
        return self.given[position][0] if position[0] == "dAL" and position in self.given else name_of(position)

    def names(self, position: Position) -> dict[str, str]:
        """The template names of the step at `position`, and its correct line as {right}."""
        quantity, layer = position
        L = self.net.layers
        dA = self.name(("dAL", L)) if layer == L else f"dA{layer}"
        names = {"dA": dA, "dZ": f"dZ{layer}", "Z": f"Z{layer}", "A": f"A{layer}",
                 "A_prev": "X" if layer == 1 else f"A{layer - 1}", "W": f"W{layer}", "dW": f"dW{layer}",
                 "db": f"db{layer}", "dA_prev": f"dA{layer - 1}", "m": str(self.net.m), "lambd": f"{self.net.lambd:g}",
                 "over_m": " / m" if self.convention == "dJ/dZ" else "",
                 "one_over_m": "" if self.convention == "dJ/dZ" else "1/m * ",
                 "l2": f" + lambd/m * W{layer}" if self.net.lambd > 0 else ""}
        by = self.net.activations[layer - 1] if quantity in ("dAL", "dZ") else self.net.layout
        names["right"] = RIGHT[quantity, by].format_map(names)
        return names

    def fits(self, mistake: Mistake[Any]) -> bool:
        return (self.convention or "course") in mistake.conventions


def _floats(a: Array) -> Floats:
    return np.asarray(a, dtype=np.float64).reshape(-1)


def _search(twin: Twin, judge: _Judge, injected: dict[Position, Mistake[Any]],
            first: Position) -> dict[Position, Mistake[Any]] | None:
    """The mistakes (one, else two) that, injected at `first` or the quantities it is computed from that
    the learner did not give, make the twin reproduce `first` and keep every quantity before it right.
    Valid choices (a subgradient) are tried before mistakes."""
    chain = [first]
    while (up := parent(chain[-1], judge.net.layers)) is not None and up not in judge.given:
        chain.append(up)
    before = judge.order[:judge.order.index(first)]
    options = [(p, m) for valid in (True, False) for p in chain for m in CATALOGUE
               if m.quantity == p[0] and m.valid is valid and judge.fits(m) and p not in injected]

    def reproduces(trial: dict[Position, Mistake[Any]]) -> bool:
        values = twin.backward({**injected, **trial})
        return values is not None and judge.agrees(first, values) and all(judge.agrees(p, values) for p in before)

    for p, m in options:
        if reproduces({p: m}):
            return {p: m}
    for (p, m), (q, n) in _pairs(options):
        if reproduces({p: m, q: n}):
            return {p: m, q: n}
    return None


def _pairs(options: list[tuple[Position, Mistake[Any]]]) -> Iterator[tuple[tuple[Position, Mistake[Any]], ...]]:
    """Pairs of mistakes at two different positions."""
    return (pair for pair in itertools.combinations(options, 2) if pair[0][0] != pair[1][0])


def _convention_reason(best: _Reading, intermediates: bool, m: int) -> str:
    if not intermediates:
        return "not needed: you gave no dZ or dA, and dW and db are the same in both conventions"
    if best.convention is None:
        return f"m = {m}: the two conventions for dZ and dA are the same"
    assert best.convention is not None
    agreeing = [r.name for r in best.rows if r.passed and re.fullmatch(r"d[ZA]([0-9]+|L)", r.name)]
    how = (f"recognised from {', '.join(agreeing)}" if agreeing else
           "none of your dZ and dA agree with the twin; this convention explains them with the fewest mistakes")
    return f"{CONVENTIONS[best.convention]} ({how})"


HEADER = ("quantity", "shape", "max abs err", "rel error", "worst at: yours vs true", "")


def _cells(rows: Sequence[GradCheckRow]) -> list[tuple[str, ...]]:
    """The cells of each row of the table, under `HEADER`."""
    return [(r.name, str(r.shape), f"{r.max_abs_error:.2e}", f"{r.relative_error:.2e}",
             f"{r.worst}: {r.worst_backward:.6g} vs {r.worst_numeric:.6g}", "ok" if r.passed else "WRONG") for r in rows]


def _table(rows: Sequence[GradCheckRow]) -> list[str]:
    body = _cells(rows)
    widths = [max(len(c) for c in column) for column in zip(HEADER, *body)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(HEADER, widths)).rstrip()]
    for r, cells in zip(rows, body):
        lines.append("  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip())
        if r.note:
            lines.append(f"    ^ {r.note}")
    return lines


__all__ = ["BackpropReport", "Finding", "check_backprop"]
