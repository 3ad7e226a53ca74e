"""Numerical derivatives of a scalar function with respect to one tensor.

Complex step (`ComplexStep`, one core for a tensor changed in place and for a model rerun from the
layer that owns it): f'(θ)·v = Im f(θ + ih·v) / h, exact to machine precision because nothing is
subtracted.
Central differences: (f(θ + ε) - f(θ - ε)) / 2ε, except where a step crosses a kink (a layer's
`branch()` changes): there a second-order one-sided difference from the side whose branch matches
the point where backward was taken.
"""

import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Literal, Protocol, TypeAlias

import attrs
import numpy as np
import numpy.typing as npt

from framework.core.arrays import Array, Indices, Mask, Scalar
from framework.core.errors import FrameworkError

Method: TypeAlias = Literal["complex", "central"]
Mode: TypeAlias = Literal["full", "sampled", "directional"]
Floats: TypeAlias = npt.NDArray[np.float64]


class NotComplexSafe(Exception):
    """The function lost the imaginary part of a complex-step probe."""


MOVED_AT_ONCE = 2**20
"""Directions are drawn and moved along in stacks of up to this many entries; a tensor whose
directions all fit in one stack keeps it."""


@attrs.frozen
class Probes:
    """Where to differentiate a tensor: flat `entries`, or random directions, each drawn from its own
    seed when needed and kept only for a small tensor (a direction over a 209 x 12288 input is
    20 MB: they are never all held)."""

    entries: npt.NDArray[np.intp] | None = None
    seeds: npt.NDArray[np.int64] | None = None
    shape: tuple[int, ...] = ()
    nonnegative: bool = False
    """Directions that move every entry the same way, so that entries sitting on one kink (zero
    biases) are all pushed to the same side of it: what central differences need."""
    _held: list[Floats] = attrs.field(factory=list, init=False, eq=False, repr=False)

    def __len__(self) -> int:
        chosen = self.entries if self.entries is not None else self.seeds
        assert chosen is not None
        return len(chosen)

    @classmethod
    def choose(
        cls, shape: tuple[int, ...], mode: Mode, samples: int, rng: np.random.Generator, *, nonnegative: bool = False
    ) -> "Probes":
        size = int(np.prod(shape))
        if mode == "full":
            return cls(entries=np.arange(size))
        if mode == "sampled":
            return cls(entries=np.sort(rng.choice(size, size=min(samples, size), replace=False)))
        seeds = rng.integers(0, 2**63 - 1, samples)  # drawn either way: the next tensors' directions stay the same
        if size <= samples:  # its entries, which the directions would only span: as cheap, and each is named
            return cls(entries=np.arange(size))
        return cls(seeds=seeds, shape=shape, nonnegative=nonnegative)

    def subset(self, positions: npt.NDArray[np.intp]) -> "Probes":
        """The probes at `positions` of this set: the same entries, or the same directions (their seeds)."""
        if self.entries is not None:
            return Probes(entries=self.entries[positions])
        assert self.seeds is not None
        return Probes(seeds=self.seeds[positions], shape=self.shape, nonnegative=self.nonnegative)

    def direction(self, i: int) -> Floats:
        """Direction i (not to be changed in place: it may be kept)."""
        v: Floats = self._all()[i] if self._fits() else self._draw(i, i + 1)[0]
        return v

    def chunks(self, limit: int) -> Iterator[tuple[int, Floats]]:
        """The directions stacked on a first axis, `limit` at a time at most and as many as fit in
        `MOVED_AT_ONCE` entries (one at least), each stack with the index of its first direction."""
        step = max(1, min(limit, MOVED_AT_ONCE // math.prod(self.shape)))
        for start in range(0, len(self), step):
            stop = min(start + step, len(self))
            yield start, self._all()[start:stop] if self._fits() else self._draw(start, stop)

    def _fits(self) -> bool:
        return len(self) * math.prod(self.shape) <= MOVED_AT_ONCE

    def _all(self) -> Floats:
        if not self._held:
            self._held.append(self._draw(0, len(self)))
        return self._held[0]

    def _draw(self, start: int, stop: int) -> Floats:
        """Directions start to stop - 1, each from its own seed."""
        assert self.seeds is not None
        v = np.empty((stop - start, *self.shape))
        for k, seed in enumerate(self.seeds[start:stop].tolist()):
            np.random.default_rng(seed).standard_normal(out=v[k])
        return np.abs(v, out=v) if self.nonnegative else v

    def project(self, g: Array) -> Floats:
        """The analytic counterpart of each probe: g at the entries, or g·v for each direction."""
        if self.entries is not None:
            return np.asarray(g.reshape(-1)[self.entries], dtype=np.float64)
        values = np.empty(len(self))
        for start, v in self.chunks(len(self)):
            values[start:start + len(v)] = v.reshape(len(v), -1) @ g.real.reshape(-1)
        return values


@attrs.frozen
class Derivatives:
    """Numerical derivatives along the probes of one tensor."""

    values: Floats
    """NaN where a probe could not be differentiated (central differences across kinks on both sides)."""
    uncertainty: Floats
    """Estimated error of each value: 0 for the complex step; for central differences, how much the
    estimates with steps h and h/2 disagree."""
    one_sided: int
    """Probes where a step crossed a kink, so that a one-sided difference was used."""
    unresolved: int
    """Probes where steps crossed kinks on both sides at every step size tried."""
    rounded: bool = False
    """Central differences: their values carry rounding error, so a derivative that is 0 may come out
    as a few 1e-10 (a step across a kink, say) instead of exactly 0. The complex step's do not."""
    kinks: Floats | None = None
    """(probes, 2): where the point sits on a kink (a branch changes however small the step towards
    one side), the one-sided derivatives from the left and from the right, between which any
    subgradient lies; NaN elsewhere. None when no probe sat on one."""
    path: str = ""
    """How the complex step ran the probes: "stacked" (K at a time through every part after the
    tensor), or which parts took them one at a time; "" for central differences."""


class TensorDifferentiator(Protocol):
    """A way to differentiate a scalar function with respect to one tensor, along probes."""

    def derivatives(self, t: Array, probes: Probes) -> Derivatives: ...


class Perturbation(Protocol):
    """A scalar function evaluated with one tensor `t` moved, and `t` as it was after: by δ at each of
    some flat entries, or by δ times each direction of a stack (on a first axis), one value each, at
    most `at_once` probes a call; `path` says how they run."""

    @property
    def at_once(self) -> int: ...

    @property
    def path(self) -> str: ...

    def at_entries(self, t: Array, indices: Indices, delta: complex) -> Array: ...

    def along(self, t: Array, directions: Floats, delta: complex) -> Array: ...


@attrs.frozen
class InPlace:
    """`f`, which reads the tensors it is differentiated by, with one of them changed in place."""

    f: Callable[[], Scalar]
    at_once: int = MOVED_AT_ONCE
    path: str = "one at a time, through the whole forward"

    def at_entries(self, t: Array, indices: Indices, delta: complex) -> Array:
        flat, values = t.reshape(-1), []
        for index in indices.tolist():
            base = flat[index]
            flat[index] = base + delta
            try:
                values.append(self.f())
            finally:
                flat[index] = base
        return _complex_values(values)

    def along(self, t: Array, directions: Floats, delta: complex) -> Array:
        base = t.copy()
        values = []
        try:
            for v in directions:
                np.add(base, delta * v, out=t)
                values.append(self.f())
            return _complex_values(values)
        finally:
            np.copyto(t, base)


def _complex_values(values: Sequence[Scalar]) -> Array:
    """The values of complex-step probes as an array, or NotComplexSafe for one that came out real."""
    if not all(isinstance(v, complex) for v in values):
        raise NotComplexSafe("a complex input gave a real result: the imaginary part was lost")
    return np.array(values, dtype=np.complex128)


@attrs.frozen
class ComplexStep:
    """The complex step along each probe of a tensor, exact to machine precision because nothing is
    subtracted; `perturbation` evaluates the function at each moved point (`InPlace`, or a model
    rerun only from the layer that owns the tensor)."""

    perturbation: Perturbation
    h: float = 1e-20

    def derivatives(self, t: Array, probes: Probes) -> Derivatives:
        values = np.empty(len(probes))
        step, at_once = 1j * self.h, self.perturbation.at_once
        with warnings.catch_warnings():
            warnings.simplefilter("error", np.exceptions.ComplexWarning)
            try:
                if probes.entries is not None:
                    for start in range(0, len(probes), at_once):
                        chunk = probes.entries[start:start + at_once]
                        values[start:start + len(chunk)] = self._derivatives(self.perturbation.at_entries(t, chunk, step))
                else:
                    for start, directions in probes.chunks(at_once):
                        values[start:start + len(directions)] = self._derivatives(
                            self.perturbation.along(t, directions, step))
            except np.exceptions.ComplexWarning as w:
                raise NotComplexSafe(f"a ComplexWarning was raised ({w}): the imaginary part is cast away") from w
        return Derivatives(values, np.zeros(len(probes)), 0, 0, path=self.perturbation.path)

    def _derivatives(self, costs: Array) -> Floats:
        if costs.dtype.kind != "c":
            raise NotComplexSafe("a complex input gave a real result: the imaginary part was lost")
        return costs.imag / self.h  # f'(θ)·v = Im f(θ + ih·v) / h


SHRINKS = 9
"""Times central differences shrink their step tenfold for an unresolved estimate (`Differentiator._central`):
from 1e-6 to 1e-15, for a prediction 1e-14 from BCE's singularity at 0."""
UNRESOLVED = 1e-4
"""An estimate whose uncertainty exceeds this share of its value (and the quotients' rounding) is unresolved."""
EPS = float(np.finfo(np.float64).eps)
"""float64's machine epsilon."""

CENTRAL_STEP = 1e-6
"""Central differences' relative step h (times an entry's size, at least 1)."""


@attrs.define
class Differentiator:
    """Differentiates `f` (which reads tensors changed in place) by `method`; `branches` reports the
    discrete choices of the last evaluation of `f`."""

    f: Callable[[], Scalar]
    branches: Callable[[], Sequence[Mask | None]]
    method: Method
    h: float = 1e-20
    eps: float = CENTRAL_STEP
    precision: float = EPS
    """The relative error to which `f` is computed (a loss's `rounding`), which bounds how well a step resolves."""
    _base: tuple[float, list[Mask | None]] | None = None

    def base(self) -> tuple[float, list[Mask | None]]:
        """f and the branches at the base point (every tensor at its base value)."""
        if self._base is None:
            self._base = float(self.f().real), [None if b is None else b.copy() for b in self.branches()]
        return self._base

    def derivatives(self, t: Array, probes: Probes) -> Derivatives:
        """The numerical derivative of f along each probe of tensor `t`."""
        if self.method == "complex":
            return ComplexStep(InPlace(self.f), self.h).derivatives(t, probes)
        values, uncertainty = np.empty(len(probes)), np.zeros(len(probes))
        kinks = np.full((len(probes), 2), np.nan)
        one_sided = unresolved = 0
        for i in range(len(probes)):
            move = self._mover(t, probes, i)
            try:
                values[i], uncertainty[i], kind, kinks[i] = self._central(move, self._step(t, probes, i))
                one_sided += kind in ("one-sided", "kink")
                unresolved += kind == "unresolved"
            finally:
                move(0)
        on_kink = bool(np.isfinite(kinks).all(axis=1).any())
        return Derivatives(values, uncertainty, one_sided, unresolved, rounded=True, kinks=kinks if on_kink else None)

    def slopes(self, t: Array, probes: Probes, i: int) -> tuple[float, float] | None:
        """The one-sided derivatives from the left and from the right along probe i of `t`, whatever
        branches the layers report (a kink that none reports: a custom layer without `branch`), each
        stable under halving its step, so that a kink sits at the point and not within a step; None
        if either is not."""
        move, (f0, _), step = self._mover(t, probes, i), self.base(), self._step(t, probes, i)
        try:
            left, right = (self._one_sided(move, side, step, f0, None) for side in (-1.0, 1.0))
        finally:
            move(0)
        if left is None or right is None or not all(
                math.isfinite(v) and error <= 1e-6 * max(1.0, abs(v)) for v, error in (left, right)):
            return None
        return left[0], right[0]

    def _step(self, t: Array, probes: Probes, i: int) -> float:
        """The step along probe i: `eps` times the entry's size (at least 1), or the tensor's RMS for a direction."""
        scale = max(1.0, float(np.sqrt(np.mean(np.abs(t.real) ** 2))) if probes.entries is None
                    else abs(float(t.reshape(-1)[int(probes.entries[i])].real)))
        return self.eps * scale

    @staticmethod
    def _mover(t: Array, probes: Probes, i: int) -> Callable[[float], None]:
        """A function that sets `t` to its base value moved by `offset` along probe i (0: back to base)."""
        if probes.entries is not None:
            flat, k = t.reshape(-1), int(probes.entries[i])
            base = flat[k]

            def move_entry(offset: float) -> None:
                flat[k] = base + offset

            return move_entry
        direction, base_t = probes.direction(i), t.copy()

        def move_along(offset: float) -> None:
            np.copyto(t, base_t)
            if offset:
                np.add(t, offset * direction, out=t)

        return move_along

    def _central(self, move: Callable[[float], None], step: float) -> tuple[float, float, str, tuple[float, float]]:
        """`_central_at` the step, shrunk tenfold (`SHRINKS` times at most) while its estimate is unresolved,
        uncertain by more than `UNRESOLVED` of its value and far above the quotients' rounding (`precision`
        |f| / h), as where the function bends within the step (BCE's log(1 - a) at a = 1 - 1e-7 and a
        step of 1e-6), and while a smaller step makes it less uncertain relative to its value."""
        estimate, f0 = self._central_at(move, step), abs(self.base()[0])
        for _ in range(SHRINKS):
            value, uncertainty = estimate[0], estimate[1]
            if not (uncertainty > UNRESOLVED * abs(value) and uncertainty > 100 * self.precision * max(f0, 1e-300) / step):
                break
            step /= 10
            smaller = self._central_at(move, step)
            if not smaller[1] * abs(value) < uncertainty * abs(smaller[0]):
                break  # rounding, not the step, limits it: a smaller step only rounds more
            estimate = smaller
        return estimate

    def _central_at(self, move: Callable[[float], None], step: float) -> tuple[float, float, str, tuple[float, float]]:
        """Richardson-extrapolated differences with steps h and h/2, (4 D(h/2) - D(h)) / 3, whose
        error is O(h⁴) (central) or O(h³) (one-sided); |D(h/2) - D(h)| is the uncertainty. Central
        where no step crosses a kink, else one-sided from the side whose branches match the base
        point; the step shrinks tenfold, four times at most, until one side does. Where the point
        sits on the kink (the other side's branch changes at a step a million times smaller too),
        the one-sided derivatives from both sides, (left, right), else NaNs."""
        f0, b0 = self.base()
        none = (math.nan, math.nan)
        for _ in range(4):
            at = {k: self._at(move, k * step, b0) for k in (-1.0, -0.5, 0.5, 1.0)}  # (f, same branches as b0)
            same = {k: matches for k, (_, matches) in at.items()}
            if all(same.values()):
                coarse = (at[1.0][0] - at[-1.0][0]) / (2 * step)
                fine = (at[0.5][0] - at[-0.5][0]) / step
                return (4 * fine - coarse) / 3, abs(fine - coarse), "central", none
            for side in (-1.0, 1.0):
                if same[side] and same[side / 2]:
                    taken = self._one_sided(move, side, step, f0, b0)
                    if taken is not None:
                        other = self._on_kink(move, -side, step, f0, b0)
                        if other is None:
                            return *taken, "one-sided", none
                        pair = (other[0], taken[0]) if side > 0 else (taken[0], other[0])
                        return *taken, "kink", pair
            step /= 10
        left, right = (self._one_sided(move, side, step * 10, f0, None) for side in (-1.0, 1.0))
        if left is not None and right is not None:  # on a kink whose branches differ from the point's on both sides
            return (left[0] + right[0]) / 2, max(left[1], right[1]), "kink", (left[0], right[0])
        return math.nan, math.nan, "unresolved", none

    def _one_sided(self, move: Callable[[float], None], side: float, step: float, f0: float,
                   b0: list[Mask | None] | None) -> tuple[float, float] | None:
        """The second-order one-sided difference from `side` (-1 left, +1 right) with steps h and h/2,
        ±(-3 f(x) + 4 f(x ± h) - f(x ± 2h)) / 2h, extrapolated, and its uncertainty; None when its
        points do not all take the branches `b0` (None: the same branches as one another)."""
        _, reference = self._branches_at(move, 0.5 * side * step) if b0 is None else (0.0, b0)
        points = {k: self._at(move, k * side * step, reference) for k in (0.5, 1.0, 2.0)}
        if not all(matches for _, matches in points.values()):
            return None
        coarse = side * (-3 * f0 + 4 * points[1.0][0] - points[2.0][0]) / (2 * step)
        fine = side * (-3 * f0 + 4 * points[0.5][0] - points[1.0][0]) / step
        return (4 * fine - coarse) / 3, abs(fine - coarse)

    def _on_kink(self, move: Callable[[float], None], side: float, step: float, f0: float,
                 b0: list[Mask | None]) -> tuple[float, float] | None:
        """When a step towards `side` a million times smaller than `step` still changes a branch, the
        point sits on a kink: the one-sided derivative from that side (its own branches), if it is
        stable (a jump, which no derivative describes, is not); None otherwise."""
        if self._at(move, side * step * 1e-6, b0)[1]:
            return None
        other = self._one_sided(move, side, step, f0, None)
        if other is None or not math.isfinite(other[0]) or other[1] > 1e-3 * max(1.0, abs(other[0])):
            return None
        return other

    def _at(self, move: Callable[[float], None], offset: float,
            reference: list[Mask | None] | None) -> tuple[float, bool]:
        """f at the offset point, and whether every layer took the branches `reference` there (False
        when f raised, or when there is no reference)."""
        move(offset)
        try:
            value = float(self.f().real)
        except FrameworkError:
            return float("nan"), False
        return value, _same(self.branches(), reference)

    def _branches_at(self, move: Callable[[float], None], offset: float) -> tuple[float, list[Mask | None] | None]:
        """f at the offset point and copies of the branches taken there, to compare other points with
        (None when f raised)."""
        move(offset)
        try:
            value = float(self.f().real)
        except FrameworkError:
            return float("nan"), None
        return value, [None if b is None else b.copy() for b in self.branches()]


def _same(branches: Sequence[Mask | None] | None, reference: Sequence[Mask | None] | None) -> bool:
    """Whether two evaluations took the same branches in every layer (never, for one that raised)."""
    if branches is None or reference is None:
        return False
    return all((a is None and b is None) or (a is not None and b is not None and np.array_equal(a, b))
               for a, b in zip(branches, reference, strict=True))


def work_copy(a: Array, method: Method) -> Array:
    """A fresh C-ordered copy to perturb in place: complex128 for the complex step, else float64."""
    return np.array(a, dtype=np.complex128 if method == "complex" else np.float64, order="C", copy=True)
