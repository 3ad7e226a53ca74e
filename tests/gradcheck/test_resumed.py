"""The resumed complex step of a graph `Model`: the same derivatives as through the whole forward."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import pytest

from framework import Add, BCELoss, Dense, Input, Model, ReLU, Sequential, Sigmoid, check_gradients
from framework.core.arrays import Array, Scalar
from framework.core.parameter import Parameter
from framework.core.protocols import Resumable
from framework.gradcheck.numeric import Differentiator, Mode, Probes, work_copy
from framework.gradcheck.resumed import model_steps


def residual(features: int = 6) -> Model:
    """Input -> Dense -> ReLU -> Dense, added to the input -> Dense(1) -> Sigmoid."""
    x = Input(features)
    h = Add()([x, Dense(features, features, seed=1)(ReLU()(Dense(features, features, seed=0)(x)))])
    return Model(x, Sigmoid()(Dense(features, 1, seed=2)(h)))


def two_branches(features: int = 6) -> Model:
    """Two Dense branches of the input, added: moving one must leave the other at its traced value."""
    x = Input(features)
    h = Add()([Dense(features, 4, seed=0)(x), ReLU()(Dense(features, 4, seed=1)(x))])
    return Model(x, Sigmoid()(Dense(4, 1, seed=2)(h)))


@contextmanager
def complex_values(params: list[Parameter]) -> Iterator[None]:
    """Each parameter's value swapped for a complex copy, as the checker does, and put back."""
    originals = [p.value for p in params]
    try:
        for p in params:
            p.value = work_copy(p.value, "complex")
        yield
    finally:
        for p, value in zip(params, originals):
            p.value = value


def test_both_containers_are_resumable() -> None:
    models: list[Resumable] = [residual(), Sequential([Dense(3, 1, seed=0), Sigmoid()])]
    assert all(isinstance(model, Resumable) for model in models)


@pytest.mark.parametrize("build", [residual, two_branches])
@pytest.mark.parametrize("mode", ["full", "directional"])
@pytest.mark.parametrize("at_once", [None, 1, 4])  # 4: stacks of 4 probes and a shorter last one
def test_graph_model_resumed_derivatives_equal_the_whole_forwards(build: Callable[[], Model], mode: Mode,
                                                                   at_once: int | None) -> None:
    rng = np.random.default_rng(0)
    model, loss = build(), BCELoss()
    x, y = rng.standard_normal((8, 6)), rng.integers(0, 2, (8, 1)).astype(float)
    calls = model.trace(x)
    y_pred = model.forward(x)
    labels = loss.check(y_pred, y)

    def cost(a: Array) -> Scalar:
        return loss.value(a, labels)

    def costs(stack: Array) -> Array:
        return loss.costs(stack, labels)

    x_work = work_copy(x, "complex")
    whole = Differentiator(lambda: cost(model.forward(x_work)), lambda: [], "complex")
    params = model.parameters()
    with complex_values(params):
        resumed = model_steps(model, cost, costs, [], calls, y_pred, at_once)
        assert set(resumed) == {id(p) for p in params}  # every parameter takes the fast path
        for p in params:
            probes = Probes.choose(p.shape, mode, 5, rng)
            fast, slow = resumed[id(p)].derivatives(p.value, probes), whole.derivatives(p.value, probes)
            np.testing.assert_allclose(fast.values, slow.values, rtol=1e-12, atol=1e-16)


def test_resume_keeps_the_traced_values_of_the_calls_it_does_not_feed() -> None:
    model = two_branches()
    x = np.random.default_rng(0).standard_normal((5, 6))
    calls = model.trace(x)
    first, second = (k for k, call in enumerate(calls) if isinstance(call.layer, Dense) and call.layer.out_features == 4)
    moved = model.resume(first + 1, np.ones((5, 4)))
    traced = calls[second].out
    assert traced is not None
    again = model.resume(second + 1, traced)  # the second branch as traced: the first is back at its own value
    np.testing.assert_array_equal(again, model.forward(x))
    assert not np.allclose(moved, again)


@pytest.mark.parametrize("mode", ["full", "sampled", "directional"])
def test_a_residual_graph_passes_on_the_resumed_path(mode: Mode) -> None:
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((8, 6)), rng.integers(0, 2, (8, 1)).astype(float)
    report = check_gradients(residual(), BCELoss(), x, y, mode=mode)
    assert report.passed, str(report)
    assert report.worst_relative_error < 1e-13
