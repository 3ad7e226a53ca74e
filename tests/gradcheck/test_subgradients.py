"""At a kink, any value between the one-sided derivatives from the left and from the right is a
subgradient: central differences call it valid, and name a value outside that interval."""

import re

import numpy as np
import pytest

from framework import BCELoss, Dense, Layer, Sequential, Sigmoid, check_gradients, check_layer
from framework.core.arrays import Array, Mask


class ReLUAtZero(Layer):
    """max(x, 0), branching on x > 0 as ReLU does, whose backward takes `at_zero` as the derivative
    at exactly 0: any value in [0, 1] is a subgradient there, anything else is not."""

    def __init__(self, at_zero: float) -> None:
        super().__init__()
        self.at_zero = at_zero

    def forward(self, x: Array) -> Array:
        self._x = x
        return np.where(x.real > 0, x, 0)

    def backward(self, grad: Array) -> Array:
        slope = np.where(self._x.real > 0, 1.0, np.where(self._x.real == 0, self.at_zero, 0.0))
        return grad * slope  # dL/dx = g · (1, at_zero or 0)

    def branch(self) -> Mask | None:
        return np.asarray(self._x.real > 0)


def on_the_kink() -> Array:
    x = np.random.default_rng(0).standard_normal((4, 3))
    x[0, 1] = x[2, 2] = 0.0  # two entries exactly on the kink
    return x


@pytest.mark.parametrize("at_zero", [1.0, 0.5, 0.0])
def test_a_value_between_the_one_sided_derivatives_is_a_valid_subgradient(at_zero: float) -> None:
    report = check_layer(ReLUAtZero(at_zero), on_the_kink(), method="central")
    row = report.rows[0]
    assert row.passed, report
    if at_zero == 0.0:  # the derivative of the point's own branch (x > 0 is False): nothing to say
        assert "subgradient" not in row.note
    else:
        assert ("at 2 probes on a kink backward's value is not the derivative of the point's own branch but lies "
                "between the one-sided derivatives from the left and from the right: a valid subgradient") in row.note


@pytest.mark.parametrize("at_zero", [2.0, -0.5])
def test_a_value_outside_them_is_named(at_zero: float) -> None:
    report = check_layer(ReLUAtZero(at_zero), on_the_kink(), method="central")
    row = report.rows[0]
    assert not report.passed and not row.passed
    assert "at 2 probes on a kink backward's value is not a subgradient" in row.note
    # dL/dx = G · slope: the interval runs from 0 (to within rounding) to the upstream gradient G there
    assert re.search(r"\d lies outside \[-?[\d.e-]+, -?[\d.e-]+\], the one-sided derivatives from the left and from the "
                     r"right$", row.note), row.note


def test_a_valid_subgradient_passes_in_a_model() -> None:
    x = on_the_kink()
    y = np.array([[1.0], [0.0], [1.0], [0.0]])
    model = Sequential([ReLUAtZero(1.0), Dense(3, 1, seed=0), Sigmoid()])
    report = check_gradients(model, BCELoss(), x, y, method="central")
    assert report.passed, report
    assert "a valid subgradient" in report.parts[0].rows[0].note  # layer 0's own check of its input


def test_the_complex_step_leaves_a_kink_to_central_differences() -> None:
    """On a kink the complex step differentiates the point's own branch only: where backward took
    another subgradient, central differences judge the tensor, and pass a valid one."""
    valid = check_layer(ReLUAtZero(1.0), on_the_kink(), method="complex")
    assert valid.passed, valid
    assert valid.rows[0].note.startswith("on a kink, where the complex step takes the derivative of the point's own "
                                         "branch and backward another subgradient; central differences' verdict is "
                                         "used for this tensor")
    assert not check_layer(ReLUAtZero(2.0), on_the_kink(), method="complex").passed


class UnreportedReLUAtZero(ReLUAtZero):
    """The same without `branch`: central differences step across its kink unseen."""

    def branch(self) -> Mask | None:
        return None


@pytest.mark.parametrize("at_zero", [0.0, 1.0, 0.5, 2.0])
def test_a_kink_no_layer_reports_is_found_from_one_sided_differences(at_zero: float) -> None:
    """A step across the kink sees the mean of its slopes (0.5 here, which passes as it is); the
    one-sided differences bound the valid values, and say the layer could report the kink."""
    report = check_layer(UnreportedReLUAtZero(at_zero), on_the_kink(), method="central")
    row = report.rows[0]
    assert row.passed is (0 <= at_zero <= 1), report
    found = "2 of its probes sit on a kink that no layer reports, found from one-sided differences"
    assert (found in row.note) is (at_zero != 0.5), row.note
    if at_zero > 1:
        assert "at 2 probes on a kink backward's value is not a subgradient" in row.note


def test_a_wrong_backward_is_not_taken_for_unreported_kinks() -> None:
    """Off every kink, left and right agree: nothing is cleared, the row fails as it is."""
    x = np.abs(on_the_kink()) + 0.5

    class Doubled(UnreportedReLUAtZero):
        def backward(self, grad: Array) -> Array:
            return 2 * super().backward(grad)

    row = check_layer(Doubled(1.0), x, method="central").rows[0]
    assert not row.passed and "kink" not in row.note
