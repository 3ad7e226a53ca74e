"""A numerical derivative is only one of a function: two forwards at the same point must agree. A
layer that draws random numbers without `replay` (as Dropout honours it), or reads state that
changes between calls, is named before any derivative is taken: its gradients would be reported
wrong for a reason that is not in its backward."""

from collections.abc import Sequence

import numpy as np

from framework.core.arrays import Array
from framework.core.errors import NondeterministicError
from framework.core.layer import Layer, Merge, Module
from framework.core.protocols import LayerCall

_RTOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}
"""How far two forwards at one point may differ, relative to the output's largest entry: a BLAS may
round differently with the memory's alignment; a random draw differs by the size of the values."""


def refuse_nondeterministic(caller: str, layer: Module, x: Array | Sequence[Array], first: Array,
                            where: str = "") -> None:
    """Run `layer` again on `x` and raise a NondeterministicError naming it when its output is not
    `first` (its output at `x` a moment before), to rounding."""
    if isinstance(layer, Merge):
        again = layer.forward(list(x) if not isinstance(x, np.ndarray) else [x])
    else:
        assert isinstance(layer, Layer) and isinstance(x, np.ndarray)
        again = layer.forward(x)
    scale = float(np.abs(first).max(initial=0.0))
    tolerance = _RTOL.get(np.dtype(first.real.dtype), 1e-12) * scale
    if again.shape == first.shape and not np.any(np.abs(again - first) > tolerance):
        return
    if again.shape != first.shape:
        differ = f"outputs of shapes {first.shape} and {again.shape}"
    else:
        worst = np.unravel_index(int(np.argmax(np.abs(again - first))), first.shape)
        a, b = float(first[worst].real), float(again[worst].real)
        differ = f"{a!r} and then {b!r} at {tuple(int(i) for i in worst)}, {abs(b - a):.1e} apart"  # every digit
    raise NondeterministicError(
        f"{caller}: {where}{layer!r} gave two different outputs at the same point ({differ}): it draws random "
        "numbers, or reads state that changes between calls, so no numerical derivative of it means anything. "
        "Make it repeat itself during a check: when self.replay is True (the checker sets it), reuse the last "
        "draw, as Dropout does")


def refuse_nondeterministic_calls(caller: str, calls: Sequence[LayerCall], y_pred: Array) -> None:
    """Each call of a model's trace run again on the input it got, against the output it gave then."""
    following = [call.x for call in calls[1:]] + [y_pred]
    for call, after in zip(calls, following):
        first = call.out if call.out is not None else after
        assert isinstance(first, np.ndarray)
        refuse_nondeterministic(caller, call.layer, call.x, first, where=f"layer {call.name} ")
