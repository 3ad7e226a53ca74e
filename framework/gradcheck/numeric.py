"""Numerical derivatives of a scalar function with respect to one tensor, changed in place.

Complex step: f'(θ)·v = Im f(θ + ih·v) / h, exact to machine precision because nothing is subtracted.
Central differences: (f(θ + ε) - f(θ - ε)) / 2ε, except where a step crosses a kink (a layer's
`branch()` changes): there a second-order one-sided difference from the side whose branch matches
the point where backward was taken.
"""

import warnings
from collections.abc import Callable, Sequence
from typing import Literal, TypeAlias

import attrs
import numpy as np
import numpy.typing as npt

from framework.arrays import Array, Mask, Scalar
from framework.errors import FrameworkError

Method: TypeAlias = Literal["complex", "central"]
Mode: TypeAlias = Literal["full", "sampled", "directional"]
Floats: TypeAlias = npt.NDArray[np.float64]


class NotComplexSafe(Exception):
    """The function lost the imaginary part of a complex-step probe."""


@attrs.frozen
class Probes:
    """Where to differentiate a tensor: flat `entries`, or dense `directions` of shape (d, *tensor.shape)."""

    entries: npt.NDArray[np.intp] | None = None
    directions: Floats | None = None

    def __len__(self) -> int:
        return len(self.entries) if self.entries is not None else len(self.directions)  # type: ignore[arg-type]

    @classmethod
    def choose(cls, shape: tuple[int, ...], mode: Mode, samples: int, rng: np.random.Generator) -> "Probes":
        size = int(np.prod(shape))
        if mode == "full":
            return cls(entries=np.arange(size))
        if mode == "sampled":
            return cls(entries=np.sort(rng.choice(size, size=min(samples, size), replace=False)))
        return cls(directions=rng.standard_normal((samples, *shape)))

    def project(self, g: Array) -> Floats:
        """The analytic counterpart of each probe: g at the entries, or g·v for each direction."""
        if self.entries is not None:
            return np.asarray(g.reshape(-1)[self.entries], dtype=np.float64)
        assert self.directions is not None
        return np.asarray(self.directions.reshape(len(self), -1) @ g.reshape(-1), dtype=np.float64)


@attrs.define
class Differentiator:
    """Differentiates `f` (which reads tensors changed in place) by `method`; `branches` reports the
    discrete choices of the last evaluation of `f`."""

    f: Callable[[], Scalar]
    branches: Callable[[], Sequence[Mask | None]]
    method: Method
    h: float = 1e-20
    eps: float = 1e-6
    _base: tuple[float, list[Mask | None]] | None = None

    def derivatives(self, t: Array, probes: Probes) -> tuple[Floats, int]:
        """The numerical derivative of f along each probe of tensor `t`, and how many of them
        needed a one-sided difference because a step crossed a kink."""
        out = np.empty(len(probes))
        one_sided = 0
        for i in range(len(probes)):
            move = self._mover(t, probes, i)
            scale = max(1.0, float(np.sqrt(np.mean(np.abs(t.real) ** 2))) if probes.entries is None
                        else abs(float(t.reshape(-1)[int(probes.entries[i])].real)))
            try:
                if self.method == "complex":
                    out[i] = self._complex_step(move)
                else:
                    out[i], kink = self._central(move, self.eps * scale)
                    one_sided += kink
            finally:
                move(0)
        return out, one_sided

    @staticmethod
    def _mover(t: Array, probes: Probes, i: int) -> Callable[[complex], None]:
        """A function that sets `t` to its base value moved by `offset` along probe i (0: back to base)."""
        if probes.entries is not None:
            flat, k = t.reshape(-1), int(probes.entries[i])
            base = flat[k]

            def move_entry(offset: complex) -> None:
                flat[k] = base + offset

            return move_entry
        assert probes.directions is not None
        direction, base_t = probes.directions[i], t.copy()

        def move_along(offset: complex) -> None:
            np.copyto(t, base_t)
            if offset:
                np.add(t, offset * direction, out=t)

        return move_along

    def _complex_step(self, move: Callable[[complex], None]) -> float:
        move(1j * self.h)
        with warnings.catch_warnings():
            warnings.simplefilter("error", np.exceptions.ComplexWarning)
            try:
                value = self.f()
            except np.exceptions.ComplexWarning as w:
                raise NotComplexSafe(f"a ComplexWarning was raised ({w}): the imaginary part is cast away") from w
        if not isinstance(value, complex):
            raise NotComplexSafe("a complex input gave a real result: the imaginary part was lost")
        return value.imag / self.h

    def _central(self, move: Callable[[complex], None], step: float) -> tuple[float, bool]:
        f0, b0 = self._base_point(move)
        for _ in range(4):
            fp, plus_ok = self._at(move, step, b0)
            fm, minus_ok = self._at(move, -step, b0)
            if plus_ok and minus_ok:
                return (fp - fm) / (2 * step), False
            if minus_ok:
                fmm, ok = self._at(move, -2 * step, b0)
                if ok:
                    return (3 * f0 - 4 * fm + fmm) / (2 * step), True
            if plus_ok:
                fpp, ok = self._at(move, 2 * step, b0)
                if ok:
                    return (-3 * f0 + 4 * fp - fpp) / (2 * step), True
            step /= 10
        return (fp - fm) / (2 * step * 10), True

    def _base_point(self, move: Callable[[complex], None]) -> tuple[float, list[Mask | None]]:
        if self._base is None:
            move(0)
            self._base = float(self.f().real), [None if b is None else b.copy() for b in self.branches()]
        return self._base

    def _at(self, move: Callable[[complex], None], offset: float, b0: list[Mask | None]) -> tuple[float, bool]:
        """f at the offset point, and whether every layer took the same branches as at the base point."""
        move(offset)
        try:
            value = float(self.f().real)
        except FrameworkError:
            return float("nan"), False
        same = all(
            (a is None and b is None) or (a is not None and b is not None and np.array_equal(a, b))
            for a, b in zip(self.branches(), b0, strict=True)
        )
        return value, same
