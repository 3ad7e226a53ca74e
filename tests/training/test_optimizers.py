"""Optimizers against their published formulas (written out again here) and against torch.optim;
schedules at chosen epochs; state, dtypes, configs and errors."""

import gc
import json
import math
import re
import tracemalloc
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from framework import Dense, MSELoss, Sequential
from framework.training import optimizers
from framework.core.arrays import Array
from framework.core.errors import ConfigError, DTypeError, FrameworkError, ShapeError, ValueRangeError
from framework.training.optimizers import (
    SGD,
    Adam,
    CosineDecay,
    ExponentialDecay,
    Optimizer,
    RMSprop,
    Schedule,
    StepDecay,
)
from framework.core.parameter import Parameter

THETA0 = np.array([[0.5, -1.2], [2.0, 0.0]])
GRADS = [
    np.array([[0.3, -0.7], [1.1, 0.0]]),
    np.array([[-0.1, 0.2], [0.9, -0.3]]),
    np.array([[0.25, 0.5], [-0.4, 0.8]]),
]


def run(optimizer: Optimizer, dtype: type[np.floating] = np.float64) -> Array:
    """THETA0 after one step for each of GRADS."""
    p = Parameter(THETA0.astype(dtype), name="W")
    for g in GRADS:
        p.grad[...] = g
        optimizer.step([p])
    return p.value


def sgd_reference(lr: float, momentum: float = 0.0, nesterov: bool = False, wd: float = 0.0) -> Array:
    theta, b = THETA0.copy(), None
    for g in GRADS:
        g = g + wd * theta
        if momentum:
            b = g if b is None else momentum * b + g
            g = g + momentum * b if nesterov else b
        theta = theta - lr * g
    return theta


def adam_reference(lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8, wd: float = 0.0) -> Array:
    theta, m, v = THETA0.copy(), np.zeros_like(THETA0), np.zeros_like(THETA0)
    for t, g in enumerate(GRADS, start=1):
        g = g + wd * theta
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        theta = theta - lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
    return theta


def rmsprop_reference(lr: float, rho: float = 0.9, eps: float = 1e-7, momentum: float = 0.0, wd: float = 0.0) -> Array:
    theta, v, b = THETA0.copy(), np.zeros_like(THETA0), np.zeros_like(THETA0)
    for g in GRADS:
        g = g + wd * theta
        v = rho * v + (1 - rho) * g**2
        b = momentum * b + g / (np.sqrt(v) + eps)
        theta = theta - lr * b
    return theta


def assert_close(actual: Array, expected: Array | list[list[float]]) -> None:
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-15)


# --- each step against the formulas -------------------------------------------------------------


def test_sgd_one_step_by_hand() -> None:
    p = Parameter(np.array([1.0, -2.0]))
    p.grad[...] = [0.5, 4.0]
    SGD(lr=0.1).step([p])
    assert_close(p.value, np.array([0.95, -2.4]))


def test_sgd_momentum_buffer_starts_at_the_gradient() -> None:
    p = Parameter(np.array([1.0, 2.0]))
    p.grad[...] = [0.5, -1.0]
    optimizer = SGD(lr=0.1, momentum=0.9)
    optimizer.step([p])  # b = g
    assert_close(p.value, np.array([0.95, 2.1]))
    optimizer.step([p])  # b = 0.9 g + g
    assert_close(p.value, np.array([0.855, 2.29]))


@pytest.mark.parametrize(
    ("momentum", "nesterov", "wd"), [(0.0, False, 0.0), (0.9, False, 0.0), (0.9, True, 0.0), (0.0, False, 0.1), (0.5, True, 0.1)]
)
def test_sgd_matches_formula(momentum: float, nesterov: bool, wd: float) -> None:
    assert_close(run(SGD(0.1, momentum, nesterov, weight_decay=wd)), sgd_reference(0.1, momentum, nesterov, wd))


@pytest.mark.parametrize(("beta1", "beta2", "eps", "wd"), [(0.9, 0.999, 1e-8, 0.0), (0.5, 0.9, 1e-3, 0.0), (0.9, 0.999, 1e-8, 0.1)])
def test_adam_matches_formula(beta1: float, beta2: float, eps: float, wd: float) -> None:
    assert_close(run(Adam(0.1, beta1, beta2, eps, weight_decay=wd)), adam_reference(0.1, beta1, beta2, eps, wd))


def test_adam_first_step_is_lr_times_the_sign() -> None:
    p = Parameter(np.array([1.0, 2.0, 3.0]))
    p.grad[...] = [0.5, -100.0, 0.0]
    Adam(lr=0.1).step([p])  # m̂ = g, v̂ = g²: θ -= 0.1 g / (|g| + 1e-8)
    assert_close(p.value, np.array([1 - 0.05 / (0.5 + 1e-8), 2 + 10 / (100 + 1e-8), 3.0]))


@pytest.mark.parametrize(("momentum", "wd"), [(0.0, 0.0), (0.5, 0.0), (0.0, 0.1), (0.5, 0.1)])
def test_rmsprop_matches_formula(momentum: float, wd: float) -> None:
    optimizer = RMSprop(0.01, rho=0.8, eps=1e-7, momentum=momentum, weight_decay=wd)
    assert_close(run(optimizer), rmsprop_reference(0.01, 0.8, 1e-7, momentum, wd))


# Parameters after 3 steps of torch 2.13.0+cpu torch.optim: p = torch.tensor(THETA0, dtype=torch.float64),
# then for each g in GRADS: p.grad = torch.tensor(g, dtype=torch.float64); opt.step(); with opt built as
# the comment of each case says.
TORCH_CASES: list[tuple[Optimizer, list[list[float]]]] = [
    (  # torch.optim.Adam([p], lr=0.1, betas=(0.9, 0.999), eps=1e-8)
        Adam(0.1, 0.9, 0.999, 1e-8),
        [[0.29607732939622533, -1.0642059919497584], [1.7446843962895746, 0.034784474126577716]],
    ),
    (  # torch.optim.Adam([p], lr=0.1, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1)
        Adam(0.1, 0.9, 0.999, 1e-8, weight_decay=0.1),
        [[0.2743259665266419, -1.028426274863208], [1.7330449289940655, 0.03455335028994908]],
    ),
    (  # torch.optim.SGD([p], lr=0.1, momentum=0.9, nesterov=True)
        SGD(0.1, momentum=0.9, nesterov=True),
        [[0.37643, -1.10847], [1.4538099999999998, -0.07070000000000003]],
    ),
    (  # torch.optim.SGD([p], lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1)
        SGD(0.1, momentum=0.9, nesterov=True, weight_decay=0.1),
        [[0.3395847935, -1.0199813162], [1.3100992329999999, -0.07178300000000004]],
    ),
    (  # torch.optim.RMSprop([p], lr=0.01, alpha=0.9, eps=1e-7)
        RMSprop(0.01, rho=0.9, eps=1e-7),
        [[0.45805565313225766, -1.1966298102880408], [1.956976555891687, 0.0018291974551275375]],
    ),
    (  # torch.optim.RMSprop([p], lr=0.01, alpha=0.9, eps=1e-7, momentum=0.5, weight_decay=0.1)
        RMSprop(0.01, rho=0.9, eps=1e-7, momentum=0.5, weight_decay=0.1),
        [[0.4306598541050702, -1.164245687323168], [1.917278794504387, 0.017627407711438087]],
    ),
]


@pytest.mark.parametrize(("optimizer", "expected"), TORCH_CASES, ids=lambda case: repr(case)[:40])
def test_matches_torch(optimizer: Optimizer, expected: list[list[float]]) -> None:
    assert_close(run(optimizer), expected)


# --- in place, dtypes, state --------------------------------------------------------------------

OPTIMIZERS: list[Callable[[], Optimizer]] = [
    lambda: SGD(0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    lambda: Adam(0.1, weight_decay=0.01),
    lambda: RMSprop(0.01, momentum=0.5, weight_decay=0.01),
    lambda: SGD(0.1, momentum=0.9, clipnorm=0.5),
    lambda: Adam(0.1, weight_decay=0.01, global_clipnorm=0.5),
    lambda: RMSprop(0.01, clipvalue=0.3, weight_decay=0.01),
]


@pytest.mark.parametrize("make", OPTIMIZERS)
def test_updates_in_place_and_leaves_the_gradient(make: Callable[[], Optimizer]) -> None:
    p = Parameter(THETA0.copy())
    value = p.value
    p.grad[...] = GRADS[0]
    make().step([p])
    assert p.value is value
    assert not np.array_equal(p.value, THETA0)
    assert_close(p.grad, GRADS[0])


@pytest.mark.parametrize("make", OPTIMIZERS)
def test_float32_stays_float32(make: Callable[[], Optimizer]) -> None:
    single = run(make(), np.float32)
    assert single.dtype == np.float32
    np.testing.assert_allclose(single, run(make()), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("make", OPTIMIZERS)
@pytest.mark.parametrize("shape", [(7, 3), (10,), ()])
def test_a_parameter_bigger_than_a_chunk_is_updated_chunk_by_chunk_as_in_one_piece(
    make: Callable[[], Optimizer], shape: tuple[int, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(0)
    theta, grads = rng.standard_normal(shape), [rng.standard_normal(shape) for _ in range(3)]

    def trained() -> Array:
        p = Parameter(theta.copy())
        optimizer = make()
        for g in grads:
            p.grad[...] = g
            optimizer.step([p])
        return p.value

    whole = trained()
    monkeypatch.setattr(optimizers, "CHUNK", 4)  # rows of 3 entries: one row a chunk; 4 entries of a vector, 3 chunks
    np.testing.assert_array_equal(trained(), whole)
    assert not np.array_equal(whole, theta)


def test_state_is_kept_per_parameter() -> None:
    a, b = Parameter(THETA0.copy(), name="a"), Parameter(THETA0.copy(), name="b")
    optimizer = Adam(0.1)
    for g in GRADS[:2]:
        a.grad[...] = g
        optimizer.step([a])
    a.grad[...] = GRADS[2]
    b.grad[...] = GRADS[0]
    optimizer.step([a, b])
    assert_close(a.value, adam_reference(0.1))  # its third step
    assert_close(b.value, THETA0 - 0.1 * GRADS[0] / (np.abs(GRADS[0]) + 1e-8))  # its first step, t = 1


def test_reset_makes_the_next_step_a_first_step() -> None:
    p = Parameter(np.array([1.0, 2.0]))
    p.grad[...] = [0.5, -1.0]
    optimizer = SGD(lr=0.1, momentum=0.9)
    optimizer.step([p])
    optimizer.reset()
    optimizer.step([p])  # b = g again, not 1.9 g
    assert_close(p.value, np.array([0.9, 2.2]))


def test_state_keeps_its_parameter_alive_until_reset() -> None:
    p = Parameter(np.ones(3))
    optimizer = SGD(0.1, momentum=0.9)
    optimizer.step([p])
    ref = weakref.ref(p)
    del p
    gc.collect()
    assert ref() is not None  # so that its id, the key of its state, cannot be reused
    optimizer.reset()
    gc.collect()
    assert ref() is None


def test_parameter_of_another_shape_is_refused() -> None:
    p = Parameter(np.ones((2, 3)), name="0.W")
    optimizer = Adam()
    optimizer.step([p])
    p.value, p.grad = np.ones((3, 2)), np.zeros((3, 2))
    message = "Adam(lr=0.001): parameter '0.W' is now (3, 2) float64, but its optimizer state was made for (2, 3) float64"
    with pytest.raises(ShapeError, match=re.escape(message)):
        optimizer.step([p])
    optimizer.reset()
    optimizer.step([p])


def test_parameter_of_another_dtype_is_refused() -> None:
    p = Parameter(np.ones(3), name="b")
    optimizer = SGD()
    optimizer.step([p])
    p.value, p.grad = np.ones(3, dtype=np.float32), np.zeros(3, dtype=np.float32)
    with pytest.raises(DTypeError, match=re.escape("is now (3,) float32, but its optimizer state was made for (3,) float64")):
        optimizer.step([p])


def test_steps_follow_the_parameters_they_are_given() -> None:
    """A step checks its parameters once, then takes them as they are: a list changed in place, a
    gradient replaced by another array and a value replaced are each seen at the next step."""
    a, b = Parameter(np.ones(2), name="a"), Parameter(np.ones(3), name="b")
    params = [a]
    optimizer = SGD(0.5)
    a.grad[...] = 1.0
    optimizer.step(params)
    params.append(b)  # the same list, one more parameter
    b.grad[...] = 2.0
    a.grad = np.full(2, 4.0)  # another array: the step must read it, not the one it saw before
    optimizer.step(params)
    np.testing.assert_array_equal(a.value, [1 - 0.5 - 2.0] * 2)
    np.testing.assert_array_equal(b.value, [0.0] * 3)
    a.value = np.zeros(2)  # replaced: its new array is updated
    optimizer.step(params)
    np.testing.assert_array_equal(a.value, [-2.0] * 2)
    assert optimizer.get_state([("a", a), ("b", b)])["a/steps"] == 3


def test_complex_parameter_is_refused() -> None:
    p = Parameter(np.zeros(2, dtype=np.complex128), name="z")
    with pytest.raises(DTypeError, match=re.escape("parameter 'z' is complex128; optimizers update float32 or float64")):
        SGD().step([p])


# --- schedules ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "epoch", "expected"),
    [
        (StepDecay(0.1, step_size=10, gamma=0.5), 0, 0.1),
        (StepDecay(0.1, step_size=10, gamma=0.5), 9, 0.1),
        (StepDecay(0.1, step_size=10, gamma=0.5), 10, 0.05),
        (StepDecay(0.1, step_size=10, gamma=0.5), 25, 0.025),
        (StepDecay(1.0, step_size=3), 7, 0.01),
        (ExponentialDecay(0.1, gamma=0.9), 0, 0.1),
        (ExponentialDecay(0.1, gamma=0.9), 2, 0.081),
        (ExponentialDecay(2.0, gamma=0.5), 4, 0.125),
        (CosineDecay(0.1, total_epochs=10, minimum=0.01), 0, 0.1),
        (CosineDecay(0.1, total_epochs=10, minimum=0.01), 3, 0.08145033635316129),
        (CosineDecay(0.1, total_epochs=10, minimum=0.01), 5, 0.055),
        (CosineDecay(0.1, total_epochs=10, minimum=0.01), 10, 0.01),
        (CosineDecay(0.1, total_epochs=10, minimum=0.01), 15, 0.01),
        (CosineDecay(0.1, total_epochs=4), 2, 0.05),
        (CosineDecay(0.1, total_epochs=4), 4, 0.0),
    ],
)
def test_schedule_values(schedule: Schedule, epoch: int, expected: float) -> None:
    assert schedule(epoch) == pytest.approx(expected, rel=1e-12, abs=1e-15)


@given(
    initial=st.floats(1e-6, 10.0),
    fraction=st.floats(0.0, 1.0),
    total_epochs=st.integers(1, 50),
    gamma=st.floats(0.01, 1.0),
)
def test_schedules_never_rise_and_stay_in_range(initial: float, fraction: float, total_epochs: int, gamma: float) -> None:
    schedules: list[tuple[Schedule, float]] = [
        (StepDecay(initial, step_size=3, gamma=gamma), 0.0),
        (ExponentialDecay(initial, gamma=gamma), 0.0),
        (CosineDecay(initial, total_epochs, minimum=initial * fraction), initial * fraction),
    ]
    for schedule, low in schedules:
        rates = [schedule(epoch) for epoch in range(60)]
        assert rates[0] == pytest.approx(initial)
        assert all(later <= earlier * (1 + 1e-12) for earlier, later in zip(rates, rates[1:]))
        assert all(low * (1 - 1e-12) <= rate <= initial * (1 + 1e-12) for rate in rates)


def test_optimizer_reads_its_schedule_at_its_epoch() -> None:
    p = Parameter(np.array([1.0]))
    p.grad[...] = [1.0]
    optimizer = SGD(lr=StepDecay(0.1, step_size=1, gamma=0.5))
    assert optimizer.learning_rate == 0.1
    optimizer.step([p])
    optimizer.epoch = 1
    assert optimizer.learning_rate == 0.05
    optimizer.step([p])
    assert_close(p.value, np.array([0.85]))


def test_any_callable_is_a_schedule() -> None:
    optimizer = Adam(lr=lambda epoch: 0.1 / (1 + epoch))
    optimizer.epoch = 4
    assert optimizer.learning_rate == pytest.approx(0.02)


# --- configs ------------------------------------------------------------------------------------


NO_CLIPPING = {"clipnorm": None, "clipvalue": None, "global_clipnorm": None}


def test_get_config() -> None:
    assert SGD().get_config() == {"lr": 0.01, "weight_decay": 0.0, **NO_CLIPPING, "momentum": 0.0, "nesterov": False}
    assert Adam(lr=CosineDecay(1, total_epochs=100), weight_decay=1e-4, clipnorm=2).get_config() == {
        "lr": {"class": "CosineDecay", "initial": 1.0, "total_epochs": 100, "minimum": 0.0},
        "weight_decay": 1e-4,
        **NO_CLIPPING,
        "clipnorm": 2.0,
        "beta1": 0.9,
        "beta2": 0.999,
        "eps": 1e-8,
    }
    config = RMSprop(lr=StepDecay(0.1, step_size=5), momentum=0.9, global_clipnorm=0.5).get_config()
    assert config == {
        "lr": {"class": "StepDecay", "initial": 0.1, "step_size": 5, "gamma": 0.1},
        "weight_decay": 0.0,
        **NO_CLIPPING,
        "global_clipnorm": 0.5,
        "rho": 0.9,
        "eps": 1e-7,
        "momentum": 0.9,
    }
    assert json.loads(json.dumps(config)) == config


def test_config_of_a_plain_function_schedule_is_refused() -> None:
    with pytest.raises(ConfigError, match="has no config to save: it is not an attrs class"):
        SGD(lr=lambda epoch: 0.1).get_config()


# --- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: SGD(lr=0), "SGD(lr=0.0): lr=0 is out of range, expected a positive finite learning rate"),
        (lambda: SGD(lr=-0.1), "lr=-0.1 is out of range"),
        (lambda: Adam(lr=math.nan), "lr=nan is out of range"),
        (lambda: RMSprop(lr=math.inf), "lr=inf is out of range"),
        (lambda: SGD(weight_decay=-1e-4), "SGD(lr=0.01): weight_decay=-0.0001 is out of range, expected >= 0"),
        (lambda: SGD(momentum=1.0), "momentum=1.0 is out of range, expected 0 <= momentum < 1"),
        (lambda: SGD(momentum=-0.5), "momentum=-0.5 is out of range"),
        (lambda: SGD(nesterov=True), "SGD(lr=0.01): nesterov=True needs momentum > 0; pass momentum=0.9, say, or nesterov=False"),
        (lambda: Adam(beta1=1.0), "Adam(lr=0.001): beta1=1.0 is out of range, expected 0 <= beta1 < 1"),
        (lambda: Adam(beta2=-0.1), "beta2=-0.1 is out of range, expected 0 <= beta2 < 1"),
        (lambda: Adam(eps=0.0), "eps=0.0 is out of range, expected eps > 0"),
        (lambda: RMSprop(rho=1.0), "RMSprop(lr=0.001): rho=1.0 is out of range, expected 0 <= rho < 1"),
        (lambda: RMSprop(eps=-1e-7), "eps=-1e-07 is out of range"),
        (lambda: RMSprop(momentum=1.5), "momentum=1.5 is out of range"),
        (lambda: StepDecay(0.0, step_size=10), "StepDecay(initial=0.0, step_size=10, gamma=0.1): initial=0.0 is out of range"),
        (lambda: StepDecay(0.1, step_size=0), "step_size=0 is out of range, expected an int >= 1"),
        (lambda: StepDecay(0.1, step_size=10, gamma=0.0), "gamma=0.0 is out of range, expected 0 < gamma <= 1"),
        (lambda: StepDecay(0.1, step_size=10, gamma=1.5), "gamma=1.5 is out of range"),
        (lambda: ExponentialDecay(-0.1, gamma=0.5), "initial=-0.1 is out of range"),
        (lambda: ExponentialDecay(0.1, gamma=math.nan), "gamma=nan is out of range"),
        (lambda: CosineDecay(0.1, total_epochs=0), "total_epochs=0 is out of range, expected an int >= 1"),
        (lambda: CosineDecay(0.1, total_epochs=10, minimum=0.2), "minimum=0.2 is out of range, expected 0 <= minimum <= initial=0.1"),
        (lambda: CosineDecay(0.1, total_epochs=10, minimum=-0.01), "minimum=-0.01 is out of range"),
        (lambda: StepDecay(0.1, step_size=10)(-1), "epoch=-1 is out of range, expected >= 0"),
        (lambda: CosineDecay(0.1, total_epochs=10)(-2), "epoch=-2 is out of range"),
        (lambda: SGD(clipnorm=-1.0), "SGD(lr=0.01): clipnorm=-1.0 is out of range, expected a positive finite limit, "
                                     "or None for no clipping"),
        (lambda: Adam(clipvalue=0), "Adam(lr=0.001): clipvalue=0 is out of range"),
        (lambda: RMSprop(global_clipnorm=math.inf), "global_clipnorm=inf is out of range"),
        (lambda: SGD(clipnorm=math.nan), "clipnorm=nan is out of range"),
    ],
)
def test_bad_arguments_are_refused(make: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueRangeError, match=re.escape(message)) as raised:
        make()
    assert isinstance(raised.value, FrameworkError)


# --- gradient clipping --------------------------------------------------------------------------

A0, B0 = np.array([[0.5, -1.2], [2.0, 0.0]]), np.array([0.25, -0.75, 1.5])
A_GRADS = [np.array([[3.0, -4.0], [0.0, 0.0]]), np.array([[0.1, 0.2], [-0.2, 0.1]]), np.array([[-2.0, 1.0], [2.0, 4.0]])]
B_GRADS = [np.array([0.1, 0.0, -0.2]), np.array([6.0, -3.0, 2.0]), np.array([0.5, 0.5, -0.5])]
"""Two parameters, each step's gradients above some limits and below others: ‖A_GRADS[0]‖ = 5,
‖B_GRADS[1]‖ = 7, ‖A_GRADS[1]‖ = sqrt(0.1)."""


def clipped_run(optimizer: Optimizer, clip: Callable[[list[Array]], list[Array]] | None = None) -> tuple[Array, Array]:
    """A0 and B0 after a step for each pair of A_GRADS and B_GRADS, the gradients passed through `clip` first."""
    a, b = Parameter(A0.copy(), name="a"), Parameter(B0.copy(), name="b")
    for ga, gb in zip(A_GRADS, B_GRADS):
        a.grad[...], b.grad[...] = clip([ga, gb]) if clip else (ga, gb)
        optimizer.step([a, b])
    return a.value, b.value


def by_norm(limit: float) -> Callable[[list[Array]], list[Array]]:
    """Keras' clipnorm by its definition: each g times limit / max(‖g‖, limit)."""
    return lambda grads: [g * limit / max(float(np.sqrt((g**2).sum())), limit) for g in grads]


def by_global_norm(limit: float) -> Callable[[list[Array]], list[Array]]:
    """Keras' global_clipnorm by its definition: every g times limit / max(‖(g₁, g₂)‖, limit)."""
    return lambda grads: [g * limit / max(float(np.sqrt(sum((g**2).sum() for g in grads))), limit) for g in grads]


def by_value(limit: float) -> Callable[[list[Array]], list[Array]]:
    return lambda grads: [np.minimum(np.maximum(g, -limit), limit) for g in grads]


MAKERS: list[Callable[..., Optimizer]] = [
    lambda **clip: SGD(0.1, momentum=0.9, **clip),
    lambda **clip: Adam(0.1, **clip),
    lambda **clip: RMSprop(0.01, momentum=0.5, **clip),
]


@pytest.mark.parametrize("make", MAKERS)
@pytest.mark.parametrize("limit", [0.05, 1.0, 4.0, 100.0])
@pytest.mark.parametrize(
    ("argument", "reference"), [("clipnorm", by_norm), ("global_clipnorm", by_global_norm), ("clipvalue", by_value)]
)
def test_clipping_applies_the_definition_to_each_step(
    make: Callable[..., Optimizer], limit: float, argument: str, reference: Callable[[float], Callable[[list[Array]], list[Array]]]
) -> None:
    for actual, expected in zip(clipped_run(make(**{argument: limit})), clipped_run(make(), reference(limit))):
        assert_close(actual, expected)


def test_clipnorm_by_hand() -> None:
    p = Parameter(np.array([1.0, 1.0]))
    p.grad[...] = [3.0, -4.0]  # ‖g‖ = 5: g becomes [0.6, -0.8], of norm 1
    SGD(lr=0.5, clipnorm=1.0).step([p])
    assert_close(p.value, np.array([0.7, 1.4]))


def test_global_clipnorm_scales_every_gradient_by_one_factor_by_hand() -> None:
    a, b = Parameter(np.array([0.0, 0.0])), Parameter(np.array([0.0]))
    a.grad[...], b.grad[...] = [6.0, 0.0], [8.0]  # ‖(a, b)‖ = 10: each times 2 / 10
    SGD(lr=1.0, global_clipnorm=2.0).step([a, b])
    assert_close(a.value, np.array([-1.2, 0.0]))
    assert_close(b.value, np.array([-1.6]))
    a.value[...], b.value[...] = 0.0, 0.0
    SGD(lr=1.0, clipnorm=2.0).step([a, b])  # per parameter: each of norm 2
    assert_close(a.value, np.array([-2.0, 0.0]))
    assert_close(b.value, np.array([-2.0]))


def test_clipvalue_clips_the_gradient_before_weight_decay_is_added_by_hand() -> None:
    p = Parameter(np.array([1.0, 1.0]))
    p.grad[...] = [5.0, -0.5]  # clipped to [1.0, -0.5], then + 0.1 θ
    SGD(lr=0.1, clipvalue=1.0, weight_decay=0.1).step([p])
    assert_close(p.value, np.array([1 - 0.1 * 1.1, 1 - 0.1 * -0.4]))


@pytest.mark.parametrize("make", MAKERS)
@pytest.mark.parametrize("argument", ["clipnorm", "global_clipnorm", "clipvalue"])
def test_gradients_within_the_limit_are_applied_bit_for_bit_unchanged(make: Callable[..., Optimizer], argument: str) -> None:
    for actual, expected in zip(clipped_run(make(**{argument: 1e6})), clipped_run(make())):
        np.testing.assert_array_equal(actual, expected)


@pytest.mark.parametrize("argument", ["clipnorm", "global_clipnorm", "clipvalue"])
def test_clipping_leaves_the_parameters_gradients_as_backward_set_them(argument: str) -> None:
    a, b = Parameter(A0.copy()), Parameter(B0.copy())
    a.grad[...], b.grad[...] = A_GRADS[0], B_GRADS[1]
    Adam(0.1, weight_decay=0.1, **{argument: 0.5}).step([a, b])
    np.testing.assert_array_equal(a.grad, A_GRADS[0])
    np.testing.assert_array_equal(b.grad, B_GRADS[1])


def torch_run(torch_optimizer: Callable[..., Any], clip: Callable[..., object], limit: float) -> tuple[Array, Array]:
    """clipped_run in torch: each step's gradients clipped by torch.nn.utils' `clip`, then stepped."""
    torch = pytest.importorskip("torch")
    a, b = torch.tensor(A0, dtype=torch.float64), torch.tensor(B0, dtype=torch.float64)
    optimizer = torch_optimizer([a, b])
    for ga, gb in zip(A_GRADS, B_GRADS):
        a.grad, b.grad = torch.tensor(ga), torch.tensor(gb)
        clip([a, b], limit)
        optimizer.step()
    return a.numpy(), b.numpy()


def test_global_clipnorm_and_clipvalue_match_torch_clip_grad_norm_and_clip_grad_value() -> None:
    torch = pytest.importorskip("torch")
    clip_norm, clip_value = torch.nn.utils.clip_grad_norm_, torch.nn.utils.clip_grad_value_
    adam = lambda params: torch.optim.Adam(params, lr=0.1)  # noqa: E731
    sgd = lambda params: torch.optim.SGD(params, lr=0.1, momentum=0.9)  # noqa: E731
    for actual, expected in zip(clipped_run(SGD(0.1, momentum=0.9, clipvalue=0.3)), torch_run(sgd, clip_value, 0.3)):
        assert_close(actual, expected)
    # torch divides by ‖g‖ + 1e-6 where Keras divides by ‖g‖: a relative difference below 1e-6 / ‖g‖
    for actual, expected in zip(clipped_run(Adam(0.1, global_clipnorm=0.5)), torch_run(adam, clip_norm, 0.5)):
        np.testing.assert_allclose(actual, expected, rtol=1e-6)
    per_tensor = lambda params, limit: [clip_norm([p], limit) for p in params]  # noqa: E731
    for actual, expected in zip(clipped_run(SGD(0.1, momentum=0.9, clipnorm=0.5)), torch_run(sgd, per_tensor, 0.5)):
        np.testing.assert_allclose(actual, expected, rtol=1e-6)


@pytest.mark.parametrize("clip", [{}, {"clipnorm": 0.5}, {"global_clipnorm": 0.5}, {"clipvalue": 0.5}])
@pytest.mark.parametrize("make", MAKERS)
def test_a_step_after_the_first_allocates_nothing_the_size_of_a_parameter(make: Callable[..., Optimizer], clip: dict[str, float]) -> None:
    rng = np.random.default_rng(0)
    params = [Parameter(rng.standard_normal((200, 100))), Parameter(rng.standard_normal(100))]  # 160 kB and 800 B
    for p in params:
        p.grad[...] = rng.standard_normal(p.value.shape)
    optimizer = make(**clip)
    optimizer.step(params)
    tracemalloc.start()
    try:
        optimizer.step(params)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16_000


def test_without_clipping_or_weight_decay_a_step_keeps_no_buffer_for_the_gradient() -> None:
    p = Parameter(THETA0.copy())
    for optimizer, kept in ((SGD(0.1), False), (SGD(0.1, clipvalue=1.0), True), (SGD(0.1, weight_decay=0.1), True)):
        optimizer.step([p])
        assert (optimizer._slots[id(p)].g is not None) is kept


@pytest.mark.parametrize(
    ("clip", "message"),
    [
        ({"clipnorm": 1.0, "global_clipnorm": 1.0},
         "SGD(lr=0.01): only one of clipnorm, clipvalue and global_clipnorm can be set, as in Keras; got clipnorm=1.0, "
         "global_clipnorm=1.0"),
        ({"clipnorm": 1.0, "clipvalue": 0.5}, "got clipnorm=1.0, clipvalue=0.5"),
        ({"clipnrom": 1.0}, "SGD(lr=0.01): unknown argument 'clipnrom'; the clipping arguments are clipnorm, clipvalue and "
                            "global_clipnorm"),
    ],
)
def test_clipping_arguments_that_do_not_go_together_are_refused(clip: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        SGD(**clip)  # type: ignore[arg-type]


def test_fit_with_global_clipnorm_moves_the_weights_by_lr_times_the_limit_each_step() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 3)), 100 * rng.standard_normal((16, 2))  # far targets: gradients far above 1e-3
    model = Sequential([Dense(3, 4, seed=0), Dense(4, 2, seed=1)])
    model.compile(loss=MSELoss(), optimizer=SGD(lr=0.5, global_clipnorm=1e-3))
    before = model.get_weights()
    model.fit(x, y, epochs=1, batch_size=16, verbose=0, shuffle=False)
    moved = math.sqrt(sum(float(((w - v) ** 2).sum()) for w, v in zip(model.get_weights(), before)))
    assert moved == pytest.approx(0.5 * 1e-3, rel=1e-9)
