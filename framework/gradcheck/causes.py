"""The likely mistake behind a layer whose backward the checker found wrong, from the catalogue.

The layer is recognised by what its forward computed on the checked input: an activation (y is the
sigmoid, tanh, ReLU or identity of x, entry by entry) or a fully connected layer (a 2-D parameter W
and a 1-D b with y = x W + b). For that kind of part, the catalogue's mistakes (`mistakes.py`, the
same entries that name a learner's) are reproduced on the layer's own input, output and upstream
gradient; the first whose values are backward's, to rounding, is the cause. Nothing is guessed for a
layer of another kind: its rows keep their ratio diagnoses (`report._diagnose`).
"""

from collections.abc import Callable, Mapping

import numpy as np

from framework.core.arrays import Array
from framework.gradcheck.mistakes import (
    ACTIVATION_MISTAKES, DENSE_MISTAKES, RIGHT, ActivationStep, Convention, DenseStep, Mistake, Quantity,
)
from framework.core.parameter import Parameter

ACTIVATIONS: dict[str, tuple[Callable[[Array], Array], Callable[[Array, Array], Array]]] = {
    "sigmoid": (lambda x: 1 / (1 + np.exp(-x)), lambda x, y: y * (1 - y)),
    "tanh": (np.tanh, lambda x, y: 1 - y**2),
    "relu": (lambda x: np.maximum(x, 0), lambda x, y: (x > 0).astype(x.dtype)),
    "linear": (lambda x: x, lambda x, y: np.ones_like(x)),
}
"""Each activation's forward, and its derivative from the input x and the output y."""

ACTIVATION_NAMES = {"dA": "grad", "dZ": "dL/dx", "Z": "x", "A": "y", "over_m": ""}
"""The catalogue's names for an activation checked on its own: input x, output y, upstream gradient grad."""
DENSE_NAMES = {"A_prev": "x", "dZ": "grad", "dA_prev": "dL/dx", "W": "W", "dW": "dL/dW", "db": "dL/db",
               "one_over_m": "", "l2": ""}
"""The same for a fully connected layer y = x W + b, whose upstream gradient grad is the catalogue's dZ."""


def layer_cause(x: Array, y: Array, upstream: Array, backward: Mapping[str, Array], params: Mapping[str, Parameter]) -> str:
    """The mistake that reproduces backward's values for a layer that computed y from x, given the
    upstream gradient: `backward` holds what its backward gave, "input" for dL/dx and each
    parameter's gradient by name. "" when the layer is of no known kind or no mistake fits."""
    with np.errstate(all="ignore"):  # recognising the layer: an overflow only means it is not that one
        for activation, (forward, derivative) in ACTIVATIONS.items():
            if x.shape == y.shape and np.allclose(forward(x), y, rtol=1e-12, atol=1e-300):
                dz = upstream * derivative(x, y)
                step = ActivationStep(activation, x, y, upstream, dz, 1, output=False)  # m = 1: no 1/m in its step
                return _matched(ACTIVATION_MISTAKES, step, {"dZ": backward["input"]}, ("dZ", activation), None,
                                ACTIVATION_NAMES)
        dense = _dense(x, y, params)
    if dense is None:
        return ""
    (w_name, W), (b_name, b) = dense
    dW = x.T @ upstream
    layer = DenseStep(x, W, upstream, dW, np.zeros_like(dW), upstream.sum(axis=0), upstream @ W.T, len(x), 0.0)
    given = {"dW": backward[w_name], "db": backward[b_name], "dA_prev": backward["input"]}
    return _matched(DENSE_MISTAKES, layer, given, None, "dJ/dZ", DENSE_NAMES)


def _dense(x: Array, y: Array, params: Mapping[str, Parameter]) -> tuple[tuple[str, Array], tuple[str, Array]] | None:
    """(name, value) of W and of b, for a layer of two parameters whose output is x W + b; else None."""
    if x.ndim != 2 or y.ndim != 2 or len(params) != 2:
        return None
    shaped = {p.shape: (name, p.value) for name, p in params.items()}
    W, b = shaped.get((x.shape[1], y.shape[1])), shaped.get((y.shape[1],))
    if W is None or b is None or not np.allclose(x @ W[1] + b[1], y, rtol=1e-12):
        return None
    return W, b


def _matched(
    mistakes: tuple[Mistake[ActivationStep], ...] | tuple[Mistake[DenseStep], ...],
    step: ActivationStep | DenseStep,
    given: Mapping[str, Array],
    activation: tuple[Quantity, str] | None,
    convention: Convention | None,
    names: dict[str, str],
) -> str:
    """The sentence of the first mistake (of those that are mistakes in `convention`: the framework's is
    dJ/dZ, the 1/m in the upstream gradient) whose value of its quantity is backward's."""
    for mistake in mistakes:
        if mistake.valid or (convention and convention not in mistake.conventions) or mistake.quantity not in given:
            continue
        wrong = mistake.reproduce(step)  # type: ignore[arg-type]
        mine = given[mistake.quantity]
        if wrong is None or wrong.shape != mine.shape:
            continue
        scale = float(np.abs(wrong).max(initial=0.0))
        if np.allclose(wrong, mine, rtol=1e-9, atol=1e-12 * scale):
            key = activation or (mistake.quantity, "batch-first")
            known = names | {"m": str(step.m), "lambd": "0"}
            return mistake.say(known | {"right": RIGHT[key].format_map(known)})
    return ""
