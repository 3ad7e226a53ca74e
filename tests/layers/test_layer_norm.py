"""LayerNorm: values worked out by hand and with numpy, PyTorch's LayerNorm forward and autograd with
the same weights, the checker by both methods on every axis choice, the options, lazy building in a
model, saving, and the errors."""

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framework import (
    ConfigError, Dense, Input, LayerNorm, Model, Sequential, ShapeError, ValueRangeError, check_gradients, check_layer,
    load_model, MSELoss,
)
from tests.helpers.layers import METHODS, SEEDS, Method, assert_passes, normal


def test_each_sample_is_normalised_over_its_features_by_hand() -> None:
    # [1, 2, 3]: mean 2, variance 2/3; [0, 0, 6]: mean 2, variance 8
    x = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 6.0]])
    layer = LayerNorm(epsilon=1e-3)
    y = layer.forward(x)
    np.testing.assert_allclose(y[0], np.array([-1.0, 0.0, 1.0]) / np.sqrt(2 / 3 + 1e-3), rtol=1e-15)
    np.testing.assert_allclose(y[1], np.array([-2.0, -2.0, 4.0]) / np.sqrt(8 + 1e-3), rtol=1e-15)
    assert layer.gamma is not None and layer.beta is not None
    assert layer.gamma.shape == (3,) and layer.beta.shape == (3,)


def test_gamma_and_beta_scale_and_shift_and_the_batch_does_not_matter() -> None:
    x = normal(0, (5, 4))
    layer = LayerNorm()
    layer.forward(x[:1])
    assert layer.gamma is not None and layer.beta is not None
    layer.gamma.value[...] = [1.0, 2.0, -1.0, 0.5]
    layer.beta.value[...] = [0.0, 1.0, 2.0, -3.0]
    mean, var = x.mean(axis=1, keepdims=True), x.var(axis=1, keepdims=True)
    expected = (x - mean) / np.sqrt(var + 1e-3) * [1.0, 2.0, -1.0, 0.5] + [0.0, 1.0, 2.0, -3.0]
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(layer.forward(x[2:3]), expected[2:3], rtol=1e-14, atol=1e-15)  # a batch of one
    layer.training = False
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-14, atol=1e-15)  # no running statistics


@pytest.mark.parametrize(("axis", "shape"), [(-1, (4, 6)), ([1, 2], (3, 4, 2)), ((-3, -2, -1), (2, 3, 4, 2))])
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_torch_with_the_same_weights(axis: int | list[int], shape: tuple[int, ...], seed: int) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    x, g = rng.normal(1, 3, shape), rng.standard_normal(shape)
    layer = LayerNorm(axis=axis, epsilon=1e-5)
    layer.build(shape)
    assert layer.gamma is not None and layer.beta is not None
    layer.gamma.value = rng.normal(1, 0.5, layer.gamma.shape)
    layer.beta.value = rng.standard_normal(layer.beta.shape)
    reference = torch.nn.LayerNorm(layer.gamma.shape, eps=1e-5, dtype=torch.float64)  # the trailing axes
    with torch.no_grad():
        reference.weight.copy_(torch.tensor(layer.gamma.value))
        reference.bias.copy_(torch.tensor(layer.beta.value))
    xt = torch.tensor(x, requires_grad=True)
    yt = reference(xt)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(layer.forward(x), yt.detach().numpy(), rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(layer.backward(g), xt.grad.numpy(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(layer.gamma.grad, reference.weight.grad.numpy(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(layer.beta.grad, reference.bias.grad.numpy(), rtol=1e-12, atol=1e-13)


def test_a_middle_axis_matches_numpy() -> None:
    x = normal(2, (3, 5, 4))
    layer = LayerNorm(axis=1)
    y = layer.forward(x)
    expected = (x - x.mean(axis=1, keepdims=True)) / np.sqrt(x.var(axis=1, keepdims=True) + 1e-3)
    np.testing.assert_allclose(y, expected, rtol=1e-14, atol=1e-15)
    assert layer.gamma is not None and layer.gamma.shape == (5,)


AXES = st.sampled_from([(-1, (4, 5)), (1, (3, 4, 2)), ([1, 2], (3, 4, 2)), ([2, 3], (2, 3, 2, 3))])


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("center", "scale"), [(True, True), (False, True), (True, False), (False, False)])
@settings(max_examples=6)
@given(case=AXES, seed=SEEDS)
def test_passes_check_layer(method: Method, center: bool, scale: bool, case: tuple[object, tuple[int, ...]],
                            seed: int) -> None:
    axis, shape = case
    layer = LayerNorm(axis=axis, center=center, scale=scale)  # type: ignore[arg-type]
    layer.build(shape)
    for p in layer.parameters():
        p.value = np.random.default_rng(seed).normal(1, 0.5, p.shape)
    assert_passes(check_layer(layer, 2 * normal(seed, shape) + 1, method=method))


def test_center_and_scale_false_have_no_parameters() -> None:
    assert LayerNorm(center=False, scale=False).parameters() == []
    only_gamma = LayerNorm(center=False)
    only_gamma.build((2, 3))
    assert [name for name, _ in only_gamma.named_parameters()] == ["gamma"]


def test_in_models_built_lazily_checked_and_saved() -> None:
    x, y = normal(0, (6, 5)), normal(1, (6, 2))
    model = Sequential([Dense(5, 4, seed=0), LayerNorm(), Dense(2, seed=1)])
    for method in METHODS:
        assert check_gradients(model, MSELoss(), x, y, method=method).passed
    inputs = Input((3, 4))
    graph = Model(inputs, LayerNorm(axis=[1, 2])(inputs))
    assert graph.layers[0].gamma.shape == (3, 4)  # type: ignore[attr-defined]
    for saved in (model, graph):
        data = x if saved is model else normal(3, (2, 3, 4))
        with tempfile.TemporaryDirectory() as folder:
            loaded = load_model(saved.save(Path(folder) / "ln.safetensors"))
        assert loaded.get_config() == saved.get_config()
        np.testing.assert_array_equal(loaded.predict(data), saved.predict(data))


def test_float32_stays_float32() -> None:
    layer = LayerNorm(dtype=np.float32)
    y = layer.forward(normal(0, (3, 4)).astype(np.float32))
    assert y.dtype == np.float32 and layer.backward(np.ones((3, 4), dtype=np.float32)).dtype == np.float32


def test_bad_arguments_and_inputs_are_named() -> None:
    with pytest.raises(ValueRangeError, match=r"LayerNorm: epsilon=0.0 is out of range, expected a finite epsilon > 0"):
        LayerNorm(epsilon=0.0)
    with pytest.raises(ValueRangeError, match=r"LayerNorm: axis must be an axis or distinct axes, got \[1, 1\]"):
        LayerNorm(axis=[1, 1])
    with pytest.raises(ConfigError, match=r"LayerNorm: center must be True or False, got 1"):
        LayerNorm(center=1)  # type: ignore[arg-type]
    with pytest.raises(ShapeError, match=r"normalises over axis 0, which an input of shape \(2, 3\) lacks \(axis 0 is "
                                         r"the batch\)"):
        LayerNorm(axis=0).forward(np.ones((2, 3)))
    with pytest.raises(ShapeError, match=r"normalises over axis 3"):
        LayerNorm(axis=3).forward(np.ones((2, 3)))
    layer = LayerNorm()
    layer.forward(np.ones((2, 3)))
    with pytest.raises(ShapeError, match=r"LayerNorm\(axis=-1, epsilon=0.001\) was built for inputs of shape "
                                         r"\(batch, 3\), got \(2, 4\)"):
        layer.forward(np.ones((2, 4)))
    assert layer.gamma is not None
    layer.gamma.value = np.ones(4)
    with pytest.raises(ShapeError, match=r"gamma has shape \(4,\), but the layer was built for \(3,\)"):
        layer.forward(np.ones((5, 3)))
