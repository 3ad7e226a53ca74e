"""The learner's network read from their arrays, and its twin: the same network built from the
framework's verified layers, with the learner's weights, whose backward can have mistakes injected.

The twin works batch first and in the dJ/dZ convention (the 1/m inside dA and dZ); `Network`
converts its values to the learner's layout and convention.
"""

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypeAlias

import attrs
import numpy as np
import numpy.typing as npt

from framework.core.arrays import Array
from framework.core.errors import ShapeError, ValueRangeError
from framework.core.layer import Layer
from framework.layers import Dense, Identity, ReLU, Sigmoid, Softmax, Tanh
from framework.learner.inputs import real_copy, suggestion
from framework.gradcheck.mistakes import ActivationStep, Convention, DenseStep, LossStep, Mistake, Quantity

Layout: TypeAlias = Literal["course", "batch-first"]
Position: TypeAlias = tuple[Quantity, int]
"""A quantity of the backward and its layer: ("dZ", 3) is dZ3, ("dA_prev", 3) is dA2, ("dAL", 3) dA3."""

ACTIVATIONS = ("relu", "sigmoid", "tanh", "linear", "softmax")
OUTPUT = ("sigmoid", "softmax", "linear")
"""Output activations and the cost each implies: cross-entropy, categorical cross-entropy, squared error."""
LAYOUTS: dict[Layout, str] = {
    "course": "the course's: W (n_l, n_{l-1}), b (n_l, 1), X (n_x, m), Y (n_L, m)",
    "batch-first": "batch-first: W (n_{l-1}, n_l), b (n_l,), X (m, n_x), Y (m, n_L)",
}
_PARAMETER = re.compile(r"([Wb])([1-9][0-9]*)")


def backward_order(layers: int) -> list[Position]:
    """The order backprop computes them in: dA{L}, then for l = L..1: dZ{l}, dW{l}, db{l}, dA{l-1}."""
    order: list[Position] = [("dAL", layers)]
    for layer in range(layers, 0, -1):
        order += [("dZ", layer), ("dW", layer), ("db", layer), ("dA_prev", layer)]
    return order


def name_of(position: Position) -> str:
    """The course's name of a quantity: ("dZ", 3) is dZ3, ("dA_prev", 3) dA2, ("dAL", 3) dA3."""
    quantity, layer = position
    if quantity == "dA_prev":
        return f"dA{layer - 1}"
    return f"dA{layer}" if quantity == "dAL" else f"{quantity}{layer}"


def parent(position: Position, layers: int) -> Position | None:
    """The quantity `position` is computed from (dW3, db3 and dA2 from dZ3; dZ3 from dA3), None for dA{L}."""
    quantity, layer = position
    if quantity == "dAL":
        return None
    if quantity == "dZ":
        return ("dAL", layer) if layer == layers else ("dA_prev", layer + 1)
    return ("dZ", layer)


@attrs.frozen
class Network:
    """The learner's network: their arrays as float64 copies, batch first, and their layout."""

    layout: Layout
    layout_reason: str
    W: tuple[Array, ...]
    """(n_{l-1}, n_l) for each layer."""
    b: tuple[Array, ...]
    """(n_l,) for each layer."""
    shapes: dict[str, tuple[int, ...]]
    """The learner's shapes: W1, b1, ..., X, Y."""
    X: Array
    """(m, n_x)"""
    Y: Array
    """(m, n_L)"""
    activations: tuple[str, ...]
    lambd: float

    @property
    def m(self) -> int:
        return int(self.X.shape[0])

    @property
    def layers(self) -> int:
        return len(self.W)

    def units(self, layer: int) -> int:
        """n_l: the units of layer l (n_0 = n_x)."""
        return int(self.X.shape[1] if layer == 0 else self.W[layer - 1].shape[1])

    def shape(self, position: Position) -> tuple[int, ...]:
        """The shape the learner's value at `position` has in their layout."""
        quantity, layer = position
        if quantity == "dW":
            return self.shapes[f"W{layer}"]
        if quantity == "db":
            return self.shapes[f"b{layer}"]
        if quantity == "dA_prev" and layer == 1:
            return self.shapes["X"]
        n = self.units(layer - 1 if quantity == "dA_prev" else layer)
        return (n, self.m) if self.layout == "course" else (self.m, n)

    def to_learner(self, position: Position, value: Array, convention: Convention | None) -> Array:
        """A twin value (batch first, dJ/dZ convention) as the learner's: their layout, their convention."""
        quantity = position[0]
        out = value.reshape(self.shape(position)) if quantity == "db" else value
        if quantity != "db" and self.layout == "course":
            out = out.T
        if quantity in ("dAL", "dZ", "dA_prev") and convention == "course":
            out = out * self.m  # per sample: the 1/m comes when forming dW and db
        return np.ascontiguousarray(out)


    def from_learner(self, position: Position, value: Array, convention: Convention | None) -> Array:
        """The learner's value as the twin's: batch first, in the dJ/dZ convention (`to_learner` undone)."""
        quantity = position[0]
        out = value.reshape(-1) if quantity == "db" else value.T if self.layout == "course" else value
        if quantity in ("dAL", "dZ", "dA_prev") and convention == "course":
            out = out / self.m
        return np.ascontiguousarray(out)


def read_network(caller: str, parameters: Mapping[str, npt.NDArray[Any]], X: object, Y: object,
                 activations: Sequence[str], lambd: float, layout: str) -> Network:
    """The learner's network, checked: keys W1..WL and b1..bL, activations of the right count and names,
    finite arrays whose shapes fit one layout (detected unless `layout` says which)."""
    names = _activations(caller, activations)
    layers = _layers(caller, parameters)
    if len(names) != layers:
        raise ValueRangeError(f"{caller}: activations has {len(names)} entries {list(names)}, but parameters has "
                              f"{layers} layers (W1 to W{layers}): give one activation a layer")
    if not (isinstance(lambd, int | float) and not isinstance(lambd, bool) and math.isfinite(lambd) and lambd >= 0):
        raise ValueRangeError(f"{caller}: lambd must be a finite number >= 0, got {lambd!r}")
    arrays = {f"{k}{l}": real_copy(caller, f"parameters['{k}{l}']", parameters[f"{k}{l}"])
              for l in range(1, layers + 1) for k in "Wb"}
    arrays["X"] = real_copy(caller, "X", X, numbers=True)
    arrays["Y"] = real_copy(caller, "Y", Y, numbers=True)
    chosen, reason = _layout(caller, arrays, layers, layout)
    course = chosen == "course"
    x, y = (arrays["X"].T, arrays["Y"].T) if course else (arrays["X"], arrays["Y"])
    W = tuple(np.ascontiguousarray(arrays[f"W{l}"].T if course else arrays[f"W{l}"]) for l in range(1, layers + 1))
    b = tuple(arrays[f"b{l}"].reshape(-1) for l in range(1, layers + 1))
    net = Network(chosen, reason, W, b, {k: v.shape for k, v in arrays.items()}, np.ascontiguousarray(x),
                  np.ascontiguousarray(y), names, float(lambd))
    _check_labels(caller, net)
    return net


def _activations(caller: str, activations: Sequence[str]) -> tuple[str, ...]:
    if isinstance(activations, str) or not isinstance(activations, Sequence) or not activations:
        raise ValueRangeError(f"{caller}: activations must be a list of names, one a layer, such as "
                              f"['relu', 'relu', 'sigmoid'], got {activations!r}")
    for i, name in enumerate(activations):
        if name not in ACTIVATIONS:
            raise ValueRangeError(f"{caller}: activations[{i}] is {name!r}, not an activation this check knows"
                                  f"{suggestion(str(name), ACTIVATIONS)} (it knows {', '.join(ACTIVATIONS)})")
    if activations[-1] not in OUTPUT:
        raise ValueRangeError(f"{caller}: the last activation, {activations[-1]!r}, implies no cost: end with 'sigmoid' "
                              "(cross-entropy), 'softmax' (categorical cross-entropy) or 'linear' (squared error)")
    return tuple(activations)


def _layers(caller: str, parameters: Mapping[str, npt.NDArray[Any]]) -> int:
    if not isinstance(parameters, Mapping) or not parameters:
        raise ValueRangeError(f"{caller}: parameters must be a dict {{'W1': ..., 'b1': ..., ...}}, got {parameters!r:.80}")
    indices = []
    for key in parameters:
        match = _PARAMETER.fullmatch(str(key))
        if match is None and all(str(k).startswith("d") for k in parameters):
            raise ValueRangeError(f"{caller}: parameters holds {', '.join(map(str, list(parameters)[:4]))}...: "
                                  "gradients, not W and b; are parameters and grads swapped? (parameters, grads, ...)")
        if match is None:
            layer_keys = [f"{k}{l}" for l in range(1, max(2, len(parameters) // 2 + 1)) for k in "Wb"]
            hint = suggestion(str(key), layer_keys)
            raise ValueRangeError(f"{caller}: parameters[{key!r}] is not a layer's W or b{hint}")
        indices.append(int(match.group(2)))
    layers = max(indices)
    missing = [f"{k}{l}" for l in range(1, layers + 1) for k in "Wb" if f"{k}{l}" not in parameters]
    if missing:
        raise ValueRangeError(f"{caller}: parameters has no {', '.join(missing)}: a network of {layers} layers (its "
                              f"last is W{layers} or b{layers}) needs W1 to W{layers} and b1 to b{layers}")
    return layers


def _layout(caller: str, arrays: dict[str, Array], layers: int, layout: str) -> tuple[Layout, str]:
    if layout not in ("auto", *LAYOUTS):
        raise ValueRangeError(f"{caller}: layout must be 'auto', 'course' or 'batch-first', got {layout!r}")
    problems = {name: _misfit(arrays, layers, name) for name in LAYOUTS}
    if layout != "auto":
        forced: Layout = "course" if layout == "course" else "batch-first"
        if problems[forced]:
            raise ShapeError(f"{caller}: layout={layout!r} ({LAYOUTS[forced]}), but {problems[forced]}")
        return forced, f"{LAYOUTS[forced]} (layout={layout!r})"
    fits = [name for name, problem in problems.items() if not problem]
    if not fits:
        raise ShapeError(f"{caller}: the shapes fit neither layout: {LAYOUTS['course']}, but {problems['course']}; "
                         f"{LAYOUTS['batch-first']}, but {problems['batch-first']}{_transposed(arrays, layers)}")
    if len(fits) == 2:
        return "course", f"{LAYOUTS['course']} (both layouts fit these shapes: pass layout= to choose)"
    return fits[0], f"{LAYOUTS[fits[0]]}, from the shapes"


def _transposed(arrays: dict[str, Array], layers: int) -> str:
    """The hint for shapes that fit a layout once Y (or X) is transposed, else ''."""
    for key in ("Y", "X"):
        turned = {**arrays, key: arrays[key].T}
        fits = [name for name in LAYOUTS if not _misfit(turned, layers, name)]
        if fits:
            return f"; with {key}.T they fit the {fits[0]} layout: {key} transposed?"
    return ""


def _misfit(arrays: dict[str, Array], layers: int, layout: Layout) -> str:
    """Why the shapes do not fit `layout` (the first misfit), or '' when they do."""
    X, Y = arrays["X"], arrays["Y"]
    if X.ndim != 2 or X.size == 0:
        return f"X has shape {X.shape}, not (features, samples) or (samples, features)"
    course = layout == "course"
    m, n_prev, before = (X.shape[1], X.shape[0], "X") if course else (X.shape[0], X.shape[1], "X")
    for layer in range(1, layers + 1):
        W, b = arrays[f"W{layer}"], arrays[f"b{layer}"]
        if W.ndim != 2:
            return f"W{layer} has shape {W.shape}, not a matrix"
        n_in, n = (W.shape[1], W.shape[0]) if course else W.shape
        if n_in != n_prev:
            what = f"{before} has {n_prev} {'features' if before == 'X' else 'units'}"
            return f"W{layer} has shape {W.shape}, for {n_in} inputs, while {what}"
        fit = [(n, 1)] if course else [(n,), (1, n)]
        if b.shape not in fit:
            return f"b{layer} has shape {b.shape}, where W{layer} {W.shape} wants {' or '.join(map(str, fit))}"
        n_prev, before = n, f"W{layer} {W.shape}"
    want = (n_prev, m) if course else (m, n_prev)
    if Y.shape != want:
        return f"Y has shape {Y.shape}, where X {X.shape} and W{layers} want {want}"
    return ""


def _check_labels(caller: str, net: Network) -> None:
    last = net.activations[-1]
    if last == "softmax" and net.Y.shape[1] < 2:
        raise ShapeError(f"{caller}: a softmax output needs at least 2 units (classes), W{net.layers} has "
                         f"{net.units(net.layers)}: use 'sigmoid' for one")
    if last in ("sigmoid", "softmax") and not (net.Y.min() >= 0 and net.Y.max() <= 1):
        raise ValueRangeError(f"{caller}: Y must lie in [0, 1] for a {last} output (cross-entropy), got values from "
                              f"{net.Y.min():g} to {net.Y.max():g}")
    if last == "softmax":
        sums = net.Y.sum(axis=1)
        worst = int(np.argmax(np.abs(sums - 1)))
        if abs(sums[worst] - 1) > 1e-6:
            raise ValueRangeError(f"{caller}: Y must hold one-hot columns for a softmax output; sample {worst} sums to "
                                  f"{sums[worst]:g}")


ROUNDING_ULPS = 16
"""The rounding of one step, in units of the last place of the magnitudes it works on: a learner's
np.dot sums in another order than the twin's."""

_ACTIVATION: dict[str, type[Layer]] = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh, "linear": Identity,
                                       "softmax": Softmax}


class Twin:
    """The learner's network built from the framework's layers (`Dense` and the activations) with the
    learner's weights. `backward(injected)` computes every quantity of the backward, with a mistake
    of the catalogue injected at each position of `injected`."""

    def __init__(self, net: Network) -> None:
        self.net = net
        self.dense: list[Dense] = []
        self.activation: list[Layer] = []
        self.cache: list[tuple[Array, Array, Array]] = []
        """(A_prev, Z, A) of each layer."""
        h = net.X
        for W, b, name in zip(net.W, net.b, net.activations):
            dense = Dense(W.shape[0], W.shape[1], seed=0)
            dense.W.value, dense.b.value = W.copy(), b.copy()
            activation = _ACTIVATION[name]()
            z = dense.forward(h)
            a = activation.forward(z)
            self.dense.append(dense)
            self.activation.append(activation)
            self.cache.append((h, z, a))
            h = a

    def backward(self, injected: Mapping[Position, Mistake[Any]]) -> dict[Position, Array] | None:
        """Every quantity, batch first in the dJ/dZ convention; None when an injected mistake cannot
        happen in this network."""
        net, values = self.net, dict[Position, Array]()
        L, m = net.layers, net.m
        A = self.cache[-1][2]
        correct = self._cost_derivative(A)
        upstream = _inject(injected, ("dAL", L), LossStep(net.activations[-1], A, net.Y, correct, m), correct)
        if upstream is None:
            return None
        values[("dAL", L)] = dA = upstream
        for layer in range(L, 0, -1):
            A_prev, z, a = self.cache[layer - 1]
            activation, dense = self.activation[layer - 1], self.dense[layer - 1]
            activation.forward(z)
            dz = _inject(injected, ("dZ", layer), ActivationStep(net.activations[layer - 1], z, a, dA,
                                                                 activation.backward(dA), m, layer == L))
            if dz is None:
                return None
            dense.forward(A_prev)
            dA_prev = dense.backward(dz)
            l2 = net.lambd / m * net.W[layer - 1]
            step = DenseStep(A_prev, net.W[layer - 1], dz, dense.W.grad + l2, l2, dense.b.grad.copy(), dA_prev, m,
                             net.lambd)
            dW = _inject(injected, ("dW", layer), step, step.dW)
            db = _inject(injected, ("db", layer), step, step.db)
            down = _inject(injected, ("dA_prev", layer), step, step.dA_prev)
            if dW is None or db is None or down is None:
                return None
            values.update({("dZ", layer): dz, ("dW", layer): dW, ("db", layer): db, ("dA_prev", layer): down})
            dA = down
        return values

    def rounding(self, values: Mapping[Position, Array]) -> dict[Position, Array]:
        """How far a correct learner's values may be from the twin's `values` by rounding alone, entry by
        entry: the learner's A, A - Y and A(1 - A) are good to about one unit in the last place of 1, not
        of themselves, and a sum to one of its terms'. These absolute errors are carried through the
        backward as it carries gradients, on absolute values (a bound: nothing cancels)."""
        net, eps = self.net, ROUNDING_ULPS * np.finfo(np.float64).eps
        L, m, Y, last = net.layers, net.m, net.Y, net.activations[-1]
        A = self.cache[-1][2]
        dA = values[("dAL", L)]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if last == "sigmoid":  # d/dA of (1 - Y)/(1 - A) - Y/A, times the error of A, eps A
                sensitivity = (np.divide(Y, A ** 2, out=np.zeros_like(A), where=Y != 0)
                               + np.divide(1 - Y, (1 - A) ** 2, out=np.zeros_like(A), where=Y != 1)) * A / m
            else:
                sensitivity = np.abs(dA) if last == "softmax" else (np.abs(A) + np.abs(Y)) / m
        error = eps * (sensitivity + np.abs(dA))
        bounds: dict[Position, Array] = {("dAL", L): error}
        for layer in range(L, 0, -1):
            A_prev, z, a = self.cache[layer - 1]
            name, W = net.activations[layer - 1], np.abs(net.W[layer - 1])
            dA = values[("dAL", L) if layer == L else ("dA_prev", layer + 1)]
            dz = np.abs(values[("dZ", layer)])
            if name == "softmax":  # |Jacobian| <= diag(s) + s sᵀ
                e = a * error + a * np.sum(a * error, axis=1, keepdims=True)
            else:
                e = error * _slope(name, z, a)
            if name in ("sigmoid", "tanh", "softmax"):
                e = e + eps * np.abs(dA)  # a(1 - a), 1 - a²: good to eps, not to eps of themselves
            if layer == L and name in ("sigmoid", "softmax"):
                e = e + eps * (np.abs(a) + np.abs(Y)) / m  # dZ = A - Y written directly
            A_prev = np.abs(A_prev)
            bounds[("dZ", layer)] = e + eps * dz
            bounds[("dW", layer)] = A_prev.T @ e + eps * (A_prev.T @ dz + net.lambd / m * W)
            bounds[("db", layer)] = e.sum(axis=0) + eps * dz.sum(axis=0)
            bounds[("dA_prev", layer)] = error = e @ W.T + eps * (dz @ W.T)
        return bounds

    def _cost_derivative(self, A: Array) -> Array:
        """dJ/dA of the cost the output implies, J = 1/m Σ over samples and output units."""
        Y, m, last = self.net.Y, self.net.m, self.net.activations[-1]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # a saturated output: inf, refused later
            if last == "linear":
                return 2 * (A - Y) / m  # J = 1/m Σ (A - Y)²
            positive = np.divide(Y, A, out=np.zeros_like(A), where=Y != 0)
            if last == "softmax":
                return -positive / m  # J = -1/m Σ Y log A
            negative = np.divide(1 - Y, 1 - A, out=np.zeros_like(A), where=Y != 1)
            return -(positive - negative) / m  # J = -1/m Σ [Y log A + (1 - Y) log(1 - A)]


def _slope(name: str, z: Array, a: Array) -> Array:
    """|g'(z)| of an element-wise activation, from its input z and output a."""
    if name == "relu":
        return (z > 0).astype(np.float64)
    if name == "sigmoid":
        return a * (1 - a)
    if name == "tanh":
        return 1 - a ** 2
    return np.ones_like(z)


def _inject(injected: Mapping[Position, Mistake[Any]], position: Position,
            step: LossStep | ActivationStep | DenseStep, correct: Array | None = None) -> Array | None:
    """The value at `position`: the step's correct one (`correct`, or its dZ), or the injected mistake's,
    or None where that mistake cannot happen."""
    if correct is None:
        assert isinstance(step, ActivationStep)
        correct = step.dZ
    mistake = injected.get(position)
    if mistake is None:
        return correct
    value = mistake.reproduce(step)
    if value is None or np.shape(value) != correct.shape:
        return None
    return np.asarray(value, dtype=np.float64)
