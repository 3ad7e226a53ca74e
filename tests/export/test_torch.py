"""`to_torch`: the module PyTorch runs gives the model's outputs (1e-12 in float64), and torch's
autograd gives the gradients our backward gives, for random models of each kind and every built-in
layer. Skipped where torch is not installed (it is an optional extra)."""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings

from framework import ConfigError, Dense, Input, Model, Sequential, ShapeError, Tanh, registered_layers
from framework.containers.base import Container
from framework.core.arrays import Array
from tests.helpers.export import (
    KINDS, SETTINGS, Built, MyDense, Twice, one_layer_model, random_model, setting, windowed,
)

pytest.importorskip("torch")

import torch  # noqa: E402

from framework.export.torch import ChannelsLast, Graph  # noqa: E402  (needs torch)

BUILT_IN = sorted(name for name, cls in registered_layers().items() if cls.__module__.startswith("framework."))


def run(module: torch.nn.Module, xs: list[Array], grad: bool = False) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The module's output on `xs`, and the tensors of `xs` (float ones requiring grad, with `grad`)."""
    tensors = [torch.tensor(x, requires_grad=grad and x.dtype.kind == "f") for x in xs]
    out = module(*tensors)
    assert isinstance(out, torch.Tensor)
    return out, tensors


def graph(model: Container) -> Graph:
    module = model.to_torch()
    assert isinstance(module, Graph)
    return module


def predict(model: Container, xs: list[Array]) -> Array:
    return model.predict(xs[0] if len(xs) == 1 else xs)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("kind", KINDS)
def test_the_module_gives_the_model_s_outputs_in_float64(kind: str, seed: int) -> None:
    model, xs = random_model(kind, seed)
    module = model.to_torch()
    assert not module.training  # eval mode, as predict runs
    assert all(p.dtype == torch.float64 for p in module.parameters())
    out, _ = run(module, xs)
    np.testing.assert_allclose(out.detach().numpy(), predict(model, xs), rtol=1e-12, atol=1e-12)


@settings(max_examples=40)
@given(windowed())
def test_every_window_geometry_gives_the_model_s_outputs_and_gradients(built: Built) -> None:
    model, xs = built
    assert_same_gradients(model, xs, 0)


@pytest.mark.parametrize("kind", KINDS)
def test_a_float32_model_gives_a_float32_module(kind: str) -> None:
    model, xs = random_model(kind, 0, np.float32)
    module = model.to_torch()
    assert {p.dtype for p in module.parameters()} == {torch.float32}
    out, _ = run(module, xs)
    assert out.dtype == torch.float32
    np.testing.assert_allclose(out.detach().numpy(), predict(model, xs), rtol=1e-5, atol=1e-6)


def our_layout(model: Container, module: Graph) -> dict[str, Array]:
    """torch's gradient of each of the model's parameters, read back in our layout: nn.Linear's
    weight is Wᵀ, nn.Conv2d's (filters, C_in, kh, kw), nn.Embedding's W as it is, BatchNorm's and
    LayerNorm's weight and bias are gamma, beta."""
    grads = {}
    for name, _ in model.named_parameters():
        layer, attribute = name.rsplit(".", 1)
        translated = module.layers[layer.replace(".", "_")]
        inner = translated.inner[-1] if isinstance(translated, ChannelsLast) else translated
        tensor = inner.get_parameter("weight" if attribute in ("W", "gamma") else "bias")
        assert tensor.grad is not None
        g = tensor.grad.numpy()
        if attribute == "W" and not isinstance(inner, torch.nn.Embedding):
            g = g.T if g.ndim == 2 else g.transpose(2, 3, 1, 0)
        grads[name] = g
    return grads


def backward_both(model: Container, module: Graph, xs: list[Array], seed: int) -> tuple[list[torch.Tensor], list[Array]]:
    """L = Σ y·r for a random r: our backward of r, and torch's autograd of L (after checking the two
    outputs equal). Returns the torch inputs (their grads set) and our dL/dx."""
    y = model.forward(xs[0] if len(xs) == 1 else xs)
    r = np.random.default_rng(seed).standard_normal(y.shape)
    if isinstance(model, Model):
        grads = model.backward_all(r, input_grad=True)
        assert grads is not None
        dxs = grads
    else:
        dxs = [model.backward(r, input_grad=True)]
    out, tensors = run(module, xs, grad=True)
    torch.autograd.backward((out * torch.tensor(r)).sum())
    np.testing.assert_allclose(out.detach().numpy(), y, rtol=1e-12, atol=1e-12)
    return tensors, dxs


def assert_same_gradients(model: Container, xs: list[Array], seed: int) -> None:
    """In eval mode, torch's autograd gives our backward's gradients of the parameters and inputs."""
    module = graph(model)
    model.set_training(False)
    tensors, dxs = backward_both(model, module, xs, seed)
    torch_grads = our_layout(model, module)
    for name, p in model.named_parameters():
        np.testing.assert_allclose(torch_grads[name], p.grad, rtol=1e-10, atol=1e-12, err_msg=name)
    for t, dx in zip(tensors, dxs, strict=True):
        if not t.is_floating_point():  # an Embedding's indices: no derivative, and our backward gives zeros
            np.testing.assert_array_equal(dx, 0)
            continue
        assert t.grad is not None
        np.testing.assert_allclose(t.grad.numpy(), dx, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("kind", KINDS)
def test_torch_s_autograd_gives_our_backward_s_gradients(kind: str, seed: int) -> None:
    model, xs = random_model(kind, seed)
    assert_same_gradients(model, xs, seed)


@pytest.mark.parametrize("kind", ["convnet", "nested"])
def test_in_training_batch_norm_uses_the_batch_and_moves_the_running_statistics_alike(kind: str) -> None:
    model, xs = random_model(kind, 3)
    module = graph(model).train()
    model.set_training(True)
    backward_both(model, module, xs, 3)
    torch_grads = our_layout(model, module)
    for name, p in model.named_parameters():
        np.testing.assert_allclose(torch_grads[name], p.grad, rtol=1e-10, atol=1e-12, err_msg=name)
    buffers = dict(module.named_buffers())
    for name, b in model.named_buffers():
        layer, attribute = name.rsplit(".", 1)
        np.testing.assert_allclose(buffers[f"layers.{layer.replace('.', '_')}.{attribute}"].numpy(), b.value,
                                   rtol=1e-12, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("name", BUILT_IN)
def test_every_built_in_layer_is_translated(name: str) -> None:
    layer, xs = registered_layers()[name].example(np.random.default_rng(0))
    model = one_layer_model(layer, xs)
    out, _ = run(model.to_torch(), xs)
    np.testing.assert_allclose(out.detach().numpy(), predict(model, xs), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", SETTINGS)
def test_each_setting_of_the_layers_gives_the_outputs_and_gradients(name: str) -> None:
    model, xs = setting(name, np.random.default_rng(1))
    assert_same_gradients(model, xs, 1)


def test_a_shared_layer_is_one_module_and_its_gradients_add_up() -> None:
    model, xs = random_model("graph", 0)
    module = graph(model)
    assert len(module.layers) == len(model.named_layers())
    assert sum(1 for key, _, _ in module.calls if key == "dense_1") == 2


def test_the_weights_are_copies() -> None:
    model, xs = random_model("dense", 0)
    module = model.to_torch()
    before, _ = run(module, xs)
    for p in model.parameters():
        p.value[...] = 0.0
    after, _ = run(module, xs)
    np.testing.assert_array_equal(after.detach().numpy(), before.detach().numpy())


def test_a_custom_layer_is_refused_by_name() -> None:
    model = Sequential([Dense(3, 3), Twice(), MyDense(3, 2)])
    with pytest.raises(ConfigError, match=r"to_torch cannot translate 1 \(Twice\), 2 \(MyDense\): only the built-in"):
        model.to_torch()


def test_a_model_of_no_known_input_shape_is_refused() -> None:
    with pytest.raises(ShapeError, match="export needs the model's input shape"):
        Sequential([Dense(3)]).to_torch()


def test_the_module_refuses_a_wrong_number_of_inputs() -> None:
    model, xs = random_model("graph", 0)
    with pytest.raises(TypeError, match=r"takes 2 inputs \(a, b\), got 1"):
        model.to_torch()(torch.tensor(xs[0]))


def test_a_frozen_layer_s_weights_need_no_grad_and_a_frozen_batch_norm_trains_on_its_running_statistics() -> None:
    model, xs = random_model("nested", 1)
    inner = model.layers[0]
    inner.trainable = False  # the nested graph: its Dense layers and its BatchNorm
    module = graph(model).train()
    model.set_training(True)
    frozen = {name for name, _ in model.named_parameters(trainable=False)}
    assert frozen and {name for name, p in module.named_parameters() if not p.requires_grad} == {
        f"layers.{name.rsplit('.', 1)[0].replace('.', '_')}.{'weight' if name.endswith(('W', 'gamma')) else 'bias'}"
        for name in frozen}
    before = {name: b.value.copy() for name, b in model.named_buffers()}
    out, _ = run(module, xs)
    np.testing.assert_allclose(out.detach().numpy(), model.forward(xs[0]), rtol=1e-12, atol=1e-12)
    for name, b in model.named_buffers():
        np.testing.assert_array_equal(b.value, before[name])  # ours did not move them, nor did torch's:
    for name, value in before.items():
        layer, attribute = name.rsplit(".", 1)
        np.testing.assert_array_equal(module.get_buffer(f"layers.{layer.replace('.', '_')}.{attribute}").numpy(), value)


def test_a_graph_of_several_outputs_returns_a_tuple() -> None:
    x = Input(3)
    model = Model(x, [Dense(2, seed=0)(x), Tanh()(x)])
    data = np.random.default_rng(0).standard_normal((4, 3))
    outputs = model.to_torch()(torch.tensor(data))
    assert isinstance(outputs, tuple)
    for out, expected in zip(outputs, model.forward_all(data), strict=True):
        np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-12, atol=1e-12)


def test_the_module_pickles_whole(tmp_path: Path) -> None:
    model, xs = random_model("reshaped_convnet", 0)
    module = model.to_torch()
    torch.save(module, tmp_path / "module.pt")
    loaded = torch.load(tmp_path / "module.pt", weights_only=False)
    np.testing.assert_array_equal(run(loaded, xs)[0].detach().numpy(), run(module, xs)[0].detach().numpy())
