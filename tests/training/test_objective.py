"""`fit`'s step takes a closing Sigmoid's backward and BCELoss's as one (`SigmoidBCE`): dL/dz = (a - y) / n.
What that keeps: the cost and every gradient of the two backwards (by hand, and through the layers'
own), 0 where a prediction is clipped, the sample weights, the call order; and the plain
`Objective` for any other model or loss (a subclass of yours, a graph Model)."""

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from framework import (SGD, BCELoss, CallOrderError, Dense, Input, Layer, MSELoss, Model, NonFiniteError, ReLU,
                       Sequential, Sigmoid, Tanh)
from framework.core.arrays import Array, SampleWeights
from framework.core.guard import floating_point_errors
from framework.training.objective import Objective, SigmoidBCE, objective


def mlp(dtype: str = "float64", scale: float = 1.0, hidden: Layer | None = None) -> Sequential:
    model = Sequential([Dense(5, 4, seed=0, dtype=dtype), hidden or ReLU(), Dense(4, 2, seed=1, dtype=dtype), Sigmoid()])
    for p in model.parameters():
        p.value *= scale
    return model


def step(o: Objective, model: Sequential, x: Array, y: Array, w: SampleWeights | None = None) -> tuple[float, list[Array]]:
    with floating_point_errors("test"):
        cost = o.forward(x, o.outputs(x), y, w)
        o.backward()
    return cost, [p.grad.copy() for p in model.parameters()]


def by_hand(model: Sequential, x: Array, y: Array, w: SampleWeights | None) -> tuple[float, list[Array]]:
    """The cost and gradients of the two-layer mlp, BCE of the clipped sigmoid, written out (in x's dtype)."""
    d0, d1 = model.layers[0], model.layers[2]
    assert isinstance(d0, Dense) and isinstance(d1, Dense)
    z0 = x @ d0.W.value + d0.b.value
    h = np.maximum(z0, 0)
    z = h @ d1.W.value + d1.b.value
    with np.errstate(over="ignore"):
        a = 1 / (1 + np.exp(-z))
    eps = np.finfo(a.dtype).eps
    kept = (a >= eps) & (a <= 1 - eps)
    c = np.clip(a, eps, 1 - eps)
    weights = np.ones(len(x), x.dtype) if w is None else w
    cost = -np.sum(weights[:, None] * (y * np.log(c) + (1 - y) * np.log(1 - c))) / y.size
    dz = np.where(kept, a - y, 0) * weights[:, None] / y.size
    dh = dz @ d1.W.value.T * (z0 > 0)
    return float(cost), [x.T @ dh, dh.sum(axis=0), h.T @ dz, dz.sum(axis=0)]


def data(seed: int, m: int, dtype: str = "float64") -> tuple[Array, Array]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((m, 5)).astype(dtype), rng.integers(0, 2, (m, 2)).astype(dtype)


def test_a_sequential_closing_with_sigmoid_and_bce_takes_them_as_one_and_any_other_pair_apart() -> None:
    class MySigmoid(Sigmoid):
        pass

    class MyBCE(BCELoss):
        pass

    class Scaled(Sequential):  # its own forward: fit must call it, not the unscanned one beneath
        def forward(self, x: Any) -> Array:
            return super().forward(2 * x)

    class Named(Sequential):  # a subclass that keeps Sequential's forward
        pass

    replaced = mlp()
    setattr(replaced.layers[-1], "forward", lambda z: z)  # the instance's: its output is no sigmoid's
    own_forward = mlp()
    setattr(own_forward, "forward", lambda x: x)
    inp = Input((5,))
    graph = Model(inp, Sigmoid()(Dense(1, seed=0)(inp)))
    layers = [Dense(5, 1, seed=0), Sigmoid()]
    assert isinstance(objective(mlp(), BCELoss()), SigmoidBCE)
    assert isinstance(objective(Named(layers), BCELoss()), SigmoidBCE)
    for model, loss in ((mlp(), MyBCE()), (mlp(), MSELoss()), (Sequential([Dense(5, 1, seed=0), MySigmoid()]), BCELoss()),
                        (replaced, BCELoss()), (Sequential([Dense(5, 1, seed=0), Tanh()]), BCELoss()), (graph, BCELoss()),
                        (Scaled(layers), BCELoss()), (own_forward, BCELoss())):
        assert type(objective(model, loss)) is Objective, (model, loss)


def test_fit_calls_the_forward_of_a_sequential_that_overrides_it() -> None:
    class Scaled(Sequential):
        def forward(self, x: Any) -> Array:
            return super().forward(x * 0)  # every output sigmoid(b) = 0.5: the cost is log 2

    x, y = data(0, 16)
    model = Scaled([Dense(5, 2, seed=0), Sigmoid()])
    model.compile(optimizer=SGD(lr=1e-9), loss=BCELoss())
    history = model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    assert history.history["loss"][0] == pytest.approx(np.log(2), rel=1e-12)


@pytest.mark.parametrize("where", ["0.W", "2.b"])
def test_a_nan_weight_in_fit_is_named_by_the_model_though_the_loss_found_it(where: str) -> None:
    """The model leaves the scan of its output to BCELoss in fit's step: the loss finds the NaN, and
    the model names its cause, as its own forward does."""
    x, y = data(0, 16)
    model = mlp()
    model.compile(optimizer=SGD(lr=0.1), loss=BCELoss())
    assert isinstance(objective(model, BCELoss()), SigmoidBCE)
    dict(model.named_parameters())[where].value.flat[0] = np.nan  # in place: no check sees it before the step
    with pytest.raises(NonFiniteError, match=rf"batch 1: Sequential.forward: {where} has 1 NaN .*a diverged model"):
        model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    with pytest.raises(NonFiniteError, match=rf"^Sequential.forward: {where} has 1 NaN"):
        model.forward(x)


@given(seed=st.integers(0, 2**16), m=st.integers(1, 40), weighted=st.booleans(),
       scale=st.sampled_from([1.0, 30.0]), dtype=st.sampled_from(["float64", "float32"]))
def test_the_cost_and_gradients_are_the_two_backwards_by_hand_and_through_the_layers(
        seed: int, m: int, weighted: bool, scale: float, dtype: str) -> None:
    x, y = data(seed, m, dtype)
    w = np.random.default_rng(seed + 1).uniform(0, 3, m).astype(dtype) if weighted else None
    fused, apart = mlp(dtype, scale), mlp(dtype, scale)  # scale 30: saturated sigmoids, clipped predictions
    loss = BCELoss()
    o = objective(fused, loss)
    assert isinstance(o, SigmoidBCE)
    cost, grads = step(o, fused, x, y, w)
    cost_apart, grads_apart = step(Objective(apart, BCELoss()), apart, x, y, w)
    cost_hand, grads_hand = by_hand(fused, x, y, w)
    rtol = 1e-12 if dtype == "float64" else 2e-5
    assert cost == pytest.approx(cost_apart, rel=rtol) and cost == pytest.approx(cost_hand, rel=10 * rtol)
    for g, g_apart, g_hand in zip(grads, grads_apart, grads_hand):
        assert g.dtype == np.dtype(dtype)
        scale_g = max(np.abs(g_hand).max(), 1e-300)
        assert np.abs(g - g_apart).max() <= rtol * scale_g
        assert np.abs(g - g_hand).max() <= 10 * rtol * scale_g + (0 if dtype == "float64" else 1e-7)


def test_clipped_predictions_get_no_gradient_as_the_two_backwards_give() -> None:
    x, y = data(0, 8)
    model = mlp(scale=200.0)
    out = model.forward(x)
    loss = BCELoss()
    with floating_point_errors("test"):
        loss.forward(out, y)
        dz = loss.backward_logits()
    eps = np.finfo(np.float64).eps
    clipped = (out < eps) | (out > 1 - eps)
    assert clipped.any() and not clipped.all()
    assert np.all(dz[clipped] == 0)
    np.testing.assert_allclose(dz[~clipped], ((out - y) / y.size)[~clipped], rtol=1e-15)


def test_the_call_order_holds_the_sigmoids_forward_is_taken_and_a_backward_needs_a_forward() -> None:
    x, y = data(1, 6)
    model = mlp()
    o = objective(model, BCELoss())
    step(o, model, x, y)
    step(o, model, x, y)  # the chain's unguarded path, after an input passed
    with pytest.raises(CallOrderError, match="Sigmoid"):
        model.layers[-1].backward(np.ones((6, 2)))
    with pytest.raises(CallOrderError, match="BCELoss"):
        o.backward()
    with pytest.raises(CallOrderError, match="without a forward"):
        model.backward_before(3, np.ones((6, 2)))


def test_a_model_holding_a_layer_of_yours_below_the_sigmoid_back_propagates_through_its_guard() -> None:
    class Scale(Layer):
        def forward(self, x: Array) -> Array:
            return 2 * x

        def backward(self, grad: Array) -> Array:
            return 2 * grad

    x, y = data(2, 7)
    fused, apart = mlp(hidden=Scale()), mlp(hidden=Scale())
    cost, grads = step(objective(fused, BCELoss()), fused, x, y)
    cost_apart, grads_apart = step(Objective(apart, BCELoss()), apart, x, y)
    assert cost == pytest.approx(cost_apart, rel=1e-14)
    for g, h in zip(grads, grads_apart):
        np.testing.assert_allclose(g, h, rtol=1e-12, atol=1e-17)


def test_fit_trains_as_with_the_two_backwards() -> None:
    class Apart(Sigmoid):  # a subclass: fit takes its backward and the loss's apart
        pass

    x, y = data(3, 64)
    fused = mlp()
    apart = Sequential([*mlp().layers[:-1], Apart()])
    histories: list[Any] = []
    for model in (fused, apart):
        model.compile(loss=BCELoss(), optimizer=SGD(lr=0.5))
        histories.append(model.fit(x, y, epochs=5, batch_size=16, seed=0, verbose=0).history["loss"])
    np.testing.assert_allclose(histories[0], histories[1], rtol=1e-12)
    for p, q in zip(fused.parameters(), apart.parameters()):
        np.testing.assert_allclose(p.value, q.value, rtol=1e-11, atol=1e-14)
