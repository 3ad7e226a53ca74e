"""The learner's code, shared by tests/learner/: a network written by hand the way the course
writes it (numpy functions, a parameters dict, caches, a grads dict), correct or with one mistake."""

import hashlib
from collections.abc import Callable, Mapping
from typing import Any, Literal

import attrs
import numpy as np
import numpy.typing as npt

from framework import BackpropReport, check_backprop
from framework.core.arrays import Array

Floats = npt.NDArray[np.float64]
Params = dict[str, Floats]
Layout = Literal["course", "batch-first"]
Convention = Literal["course", "dJ/dZ"]


# --- the learner's code --------------------------------------------------------------------------


def sigmoid(Z: Array) -> Array:
    return 1 / (1 + np.exp(-Z))


def softmax(Z: Array, axis: int) -> Array:
    e: Array = np.exp(Z - Z.real.max(axis=axis, keepdims=True))
    s: Array = e / np.sum(e, axis=axis, keepdims=True)
    return s


def activate(name: str, Z: Array, axis: int) -> Array:
    if name == "relu":
        relu: Array = np.maximum(0, Z)
        return relu
    if name == "sigmoid":
        return sigmoid(Z)
    if name == "tanh":
        return np.tanh(Z)
    if name == "softmax":
        return softmax(Z, axis)
    return Z


@attrs.frozen
class Lines:
    """The learner's backward, one line a field, in their layout and convention. A test of a mistake
    writes one of these lines wrong."""

    dAL: Callable[[str, Array, Array, int], Array]
    """(output activation, AL, Y, m) -> dAL"""
    dW: Callable[[Array, Array, Array, int, float], Array]
    """(dZ, A_prev, W, m, lambd) -> dW"""
    db: Callable[[Array, int], Array]
    dA_prev: Callable[[Array, Array], Array]
    """(W, dZ) -> dA_prev"""
    relu: Callable[[Array, Array, Array], Array] = lambda dA, Z, A: dA * (Z > 0)
    sigmoid: Callable[[Array, Array, Array], Array] = lambda dA, Z, A: dA * A * (1 - A)
    tanh: Callable[[Array, Array, Array], Array] = lambda dA, Z, A: dA * (1 - A ** 2)
    linear: Callable[[Array, Array, Array], Array] = lambda dA, Z, A: dA
    softmax: Callable[[Array, Array, Array, int], Array] | None = None
    """(AL, Y, Z, m) -> dZL for a softmax output."""
    output_dZ: Callable[[Array, Array, Array, int], Array] | None = None
    """(dAL, AL, Y, m) -> dZL written directly (dZ3 = A3 - Y), instead of through the activation's line."""


def cross_entropy_dAL(name: str, AL: Array, Y: Array, m: int) -> Array:
    if name == "sigmoid":
        return -(np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))
    if name == "softmax":
        return -Y / AL
    return 2 * (AL - Y)


def lines(layout: Layout = "course", convention: Convention = "course", **wrong: Any) -> Lines:
    """The correct lines of a layout and convention, with the lines in `wrong` replaced."""
    per_m: Callable[[Array, int], Array] = (lambda a, m: a) if convention == "course" else (lambda a, m: a / m)
    k: Callable[[int], float] = (lambda m: 1 / m) if convention == "course" else (lambda m: 1.0)
    if layout == "course":
        right = Lines(
            dAL=lambda name, AL, Y, m: per_m(cross_entropy_dAL(name, AL, Y, m), m),
            dW=lambda dZ, A_prev, W, m, lambd: k(m) * np.dot(dZ, A_prev.T) + lambd / m * W,
            db=lambda dZ, m: k(m) * np.sum(dZ, axis=1, keepdims=True),
            dA_prev=lambda W, dZ: np.dot(W.T, dZ),
            softmax=lambda AL, Y, Z, m: per_m(AL - Y, m),
        )
    else:
        right = Lines(
            dAL=lambda name, AL, Y, m: per_m(cross_entropy_dAL(name, AL, Y, m), m),
            dW=lambda dZ, A_prev, W, m, lambd: k(m) * np.dot(A_prev.T, dZ) + lambd / m * W,
            db=lambda dZ, m: k(m) * np.sum(dZ, axis=0),
            dA_prev=lambda W, dZ: np.dot(dZ, W.T),
            softmax=lambda AL, Y, Z, m: per_m(AL - Y, m),
        )
    return attrs.evolve(right, **wrong)


@attrs.frozen
class Learner:
    """A fully connected network the way a learner writes it: parameters, X and Y in their layout, a
    forward that keeps caches, and a backward made of `lines`."""

    parameters: Params
    X: Floats
    Y: Floats
    activations: tuple[str, ...]
    layout: Layout = "course"
    lambd: float = 0.0

    @property
    def m(self) -> int:
        return int(self.X.shape[1] if self.layout == "course" else self.X.shape[0])

    @property
    def axis(self) -> int:
        """The units' axis: 0 in the course's layout (n_l, m), 1 batch first."""
        return 0 if self.layout == "course" else 1

    def forward(self, parameters: Mapping[str, Array]) -> tuple[Array, list[tuple[Array, Array, Array]]]:
        A: Array = self.X
        caches: list[tuple[Array, Array, Array]] = []
        for l, name in enumerate(self.activations, 1):
            W, b = parameters[f"W{l}"], parameters[f"b{l}"]
            Z = np.dot(W, A) + b if self.layout == "course" else np.dot(A, W) + b
            caches.append((A, Z, activate(name, Z, self.axis)))
            A = caches[-1][2]
        return A, caches

    def cost(self, parameters: Mapping[str, Array]) -> Array:
        AL, _ = self.forward(parameters)
        Y, m, last = self.Y, self.m, self.activations[-1]
        if last == "sigmoid":
            cost = -np.sum(Y * np.log(AL) + (1 - Y) * np.log(1 - AL)) / m
        elif last == "softmax":
            cost = -np.sum(Y * np.log(AL)) / m
        else:
            cost = np.sum((AL - Y) ** 2) / m
        L2 = sum(np.sum(np.square(parameters[f"W{l}"])) for l in range(1, len(self.activations) + 1))
        total: Array = np.squeeze(cost + self.lambd / (2 * m) * L2)
        return total

    def backward(self, code: Lines) -> dict[str, Array]:
        AL, caches = self.forward(self.parameters)
        m, L, grads = self.m, len(caches), dict[str, Array]()
        dA = code.dAL(self.activations[-1], AL, self.Y, m)
        grads[f"dA{L}"] = dA
        for l in range(L, 0, -1):
            A_prev, Z, A = caches[l - 1]
            W = self.parameters[f"W{l}"]
            if l == L and code.output_dZ is not None:
                dZ = code.output_dZ(dA, A, self.Y, m)
            elif l == L and self.activations[-1] == "softmax":
                assert code.softmax is not None
                dZ = code.softmax(A, self.Y, Z, m)
            else:
                dZ = getattr(code, self.activations[l - 1])(dA, Z, A)
            grads[f"dZ{l}"] = dZ
            grads[f"dW{l}"] = code.dW(dZ, A_prev, W, m, self.lambd)
            grads[f"db{l}"] = code.db(dZ, m)
            dA = code.dA_prev(W, dZ)
            grads[f"dA{l - 1}"] = dA
        return grads

    def check(self, code: Lines | None = None, keep: Callable[[str], bool] = lambda key: True,
              **options: Any) -> BackpropReport:
        grads = self.backward(code or lines(self.layout))
        return check_backprop(self.parameters, {k: v for k, v in grads.items() if keep(k)}, self.X, self.Y,
                              list(self.activations), lambd=self.lambd, **options)


def network(sizes: list[int], activations: list[str], *, m: int = 8, seed: int = 0, layout: Layout = "course",
            lambd: float = 0.0, bias: float = 0.0, dead_sample: bool = False) -> Learner:
    """He-initialised weights, biases drawn at `bias` scale (the course's are zero), X standard normal,
    Y 0/1 (one-hot for a softmax output); `dead_sample` makes sample 0 all zeros."""
    rng = np.random.default_rng(seed)
    parameters: Params = {}
    for l in range(1, len(sizes)):
        W = rng.standard_normal((sizes[l], sizes[l - 1])) * np.sqrt(2 / sizes[l - 1])
        b = bias * rng.standard_normal((sizes[l], 1))
        parameters[f"W{l}"], parameters[f"b{l}"] = (W, b) if layout == "course" else (W.T.copy(), b.reshape(-1))
    X = rng.standard_normal((sizes[0], m))
    if dead_sample:
        X[:, 0] = 0.0
    if activations[-1] == "softmax":
        Y = np.eye(sizes[-1])[:, rng.integers(0, sizes[-1], m)]
    elif activations[-1] == "sigmoid":
        Y = rng.integers(0, 2, (sizes[-1], m)).astype(np.float64)
    else:
        Y = rng.standard_normal((sizes[-1], m))
    if layout == "batch-first":
        X, Y = X.T.copy(), Y.T.copy()
    return Learner(parameters, X, Y, tuple(activations), layout, lambd)


def poke(a: Array, index: tuple[int, ...], value: float) -> Array:
    """A copy of `a` with one entry set."""
    b = a.copy()
    b[index] = value
    return b


def fingerprint(*dicts: Mapping[str, Array]) -> list[str]:
    return [f"{k}:{a.shape}:{hashlib.sha256(a.tobytes()).hexdigest()}" for d in dicts for k, a in sorted(d.items())]


def relu_net(**options: Any) -> Learner:
    return network([5, 4, 3, 1], ["relu", "relu", "sigmoid"], **options)


def course_inputs() -> tuple[Learner, dict[str, Array]]:
    learner = relu_net()
    return learner, learner.backward(lines())
