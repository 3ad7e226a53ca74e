"""Helpers shared by the tests of the built-in layers (tests/layers/, tests/test_losses.py, ...)."""

import math
from collections.abc import Callable
from typing import Literal

import numpy as np
import numpy.typing as npt
from hypothesis import strategies as st

from framework import Dense, GradCheckReport, Layer, ReLU, Sigmoid
from framework.core.arrays import Array, Shape
from framework.layers import ELU, GELU, Identity, LeakyReLU, Softmax, Softplus, Swish, Tanh

H = 1e-20
"""Complex step: Im f(x + iHv) / H is the derivative of f along v, with no subtraction error."""


def hand_dense() -> Dense:
    """Dense(3 -> 2) with W = [[1, 2], [3, 4], [5, 6]] and b = [0.5, -1]."""
    layer = Dense(3, 2)
    layer.W.value[...] = [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
    layer.b.value[...] = [0.5, -1.0]
    return layer


X_HAND: npt.NDArray[np.float64] = np.array([[1.0, 0.0, -1.0], [2.0, 1.0, 0.0]])


def layers_and_upstream() -> list[tuple[Layer, Array]]:
    return [(hand_dense(), np.ones((2, 2))), (ReLU(), np.ones((2, 3))), (Sigmoid(), np.ones((2, 3)))]
Method = Literal["complex", "central"]
METHODS: tuple[Method, ...] = ("complex", "central")
Floats = npt.NDArray[np.float64]


def assert_passes(report: GradCheckReport) -> None:
    assert report.passed, str(report)


def normal(seed: int, shape: Shape) -> Floats:
    return np.random.default_rng(seed).standard_normal(shape)


SEEDS = st.integers(0, 2**32 - 1)
MATRICES = st.tuples(st.integers(2, 4), st.integers(1, 4))
ELEMENT_WISE: dict[str, Callable[[], Layer]] = {
    "Tanh": Tanh, "LeakyReLU": lambda: LeakyReLU(alpha=0.2), "ELU": lambda: ELU(alpha=0.7),
    "Softmax": Softmax, "Softmax(axis=0)": lambda: Softmax(axis=0), "Identity": Identity,
    "GELU": GELU, "GELU-tanh": lambda: GELU(approximate="tanh"), "Swish": Swish, "Softplus": Softplus,
}


def window_geometry(h: int, w: int, window: tuple[int, int], strides: tuple[int, int],
                    padding: str) -> tuple[int, int, int, int]:
    """(H_out, W_out, padding at the top, at the left) of a window moved over an h x w image, worked
    out from Keras' rule: in "same", out = ceil(in / stride) and the total padding is split with the
    extra at the bottom and right; in "valid", no padding."""
    (ph, pw), (sh, sw) = window, strides
    if padding == "same":
        oh, ow = math.ceil(h / sh), math.ceil(w / sw)
        return oh, ow, max((oh - 1) * sh + ph - h, 0) // 2, max((ow - 1) * sw + pw - w, 0) // 2
    return (h - ph) // sh + 1, (w - pw) // sw + 1, 0, 0
