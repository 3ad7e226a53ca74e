"""Conv2D: forward against a naive loop, Keras' "same" shapes, gradients by both checker methods,
a small CNN, save/load, the errors at the edge, and (when torch is installed) torch's conv2d."""

import math
from pathlib import Path

import numpy as np
import pytest

from framework import (
    BCELoss, ConfigError, Conv2D, Dense, Flatten, ReLU, Sequential, ShapeError, Sigmoid, ValueRangeError, check_gradients,
    check_layer, load_model,
)
from framework.core.arrays import Array

CONFIGS = [  # (kernel_size, strides, padding)
    (3, 1, "valid"), (3, 1, "same"), (2, 1, "same"), (2, 2, "valid"), (3, 2, "same"), (4, 2, "same"),
    ((3, 2), (2, 1), "same"), ((1, 3), (1, 2), "valid"),
]


def naive_conv(x: Array, W: Array, b: Array, strides: tuple[int, int], padding: str) -> Array:
    """An independent reference: explicit loops over the output positions."""
    n, h, w, _ = x.shape
    kh, kw, _, f = W.shape
    sh, sw = strides
    if padding == "same":
        oh, ow = math.ceil(h / sh), math.ceil(w / sw)
        ph, pw = max((oh - 1) * sh + kh - h, 0), max((ow - 1) * sw + kw - w, 0)
        x = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    else:
        oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    y = np.zeros((n, oh, ow, f), dtype=np.result_type(x, W))
    for i in range(oh):
        for j in range(ow):
            patch = x[:, i * sh: i * sh + kh, j * sw: j * sw + kw, :]
            for k in range(f):
                y[:, i, j, k] = np.sum(patch * W[:, :, :, k], axis=(1, 2, 3)) + b[k]
    return y


def pair(v: int | tuple[int, int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else v


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(("kernel", "strides", "padding"), CONFIGS)
def test_forward_matches_a_naive_loop(kernel: int | tuple[int, int], strides: int | tuple[int, int], padding: str,
                                      seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 7, 6, 3))
    layer = Conv2D(4, kernel, strides=strides, padding=padding, seed=seed)  # type: ignore[arg-type]
    y = layer.forward(x)
    layer.b.value[...] = rng.standard_normal(4)
    y = layer.forward(x)
    np.testing.assert_allclose(y, naive_conv(x, layer.W.value, layer.b.value, pair(strides), padding), atol=1e-12)
    assert layer.output_shape(x.shape) == y.shape


@pytest.mark.parametrize("size", [1, 4, 5, 7, 8])
@pytest.mark.parametrize("k", [1, 2, 3, 4])
@pytest.mark.parametrize("s", [1, 2, 3])
def test_same_output_shapes_follow_keras(size: int, k: int, s: int) -> None:
    layer = Conv2D(2, k, strides=s, padding="same", seed=0)
    y = layer.forward(np.ones((1, size, size + 1, 2)))
    assert y.shape == (1, math.ceil(size / s), math.ceil((size + 1) / s), 2)


def test_he_init_and_shapes() -> None:
    layer = Conv2D(64, (3, 5), seed=0)
    layer.forward(np.ones((1, 8, 8, 10)))
    assert layer.W.shape == (3, 5, 10, 64) and layer.b.shape == (64,) and not layer.b.value.any()
    assert abs(layer.W.value.std() - math.sqrt(2 / (3 * 5 * 10))) < 0.01


@pytest.mark.parametrize("method", ["complex", "central"])
@pytest.mark.parametrize(("kernel", "strides", "padding"), CONFIGS)
def test_gradients_pass_both_checker_methods(kernel: int | tuple[int, int], strides: int | tuple[int, int],
                                             padding: str, method: str) -> None:
    rng = np.random.default_rng(3)
    layer = Conv2D(2, kernel, strides=strides, padding=padding, seed=3)  # type: ignore[arg-type]
    report = check_layer(layer, rng.standard_normal((2, 5, 6, 2)), method=method)  # type: ignore[arg-type]
    assert report.passed, str(report)


@pytest.mark.parametrize("mode", ["sampled", "directional"])
def test_the_checker_shortcuts_agree_in_other_modes(mode: str) -> None:
    layer = Conv2D(3, 3, strides=2, padding="same", seed=4)
    report = check_layer(layer, np.random.default_rng(4).standard_normal((2, 6, 5, 2)), mode=mode)  # type: ignore[arg-type]
    assert report.passed, str(report)


def small_cnn() -> Sequential:
    return Sequential([Conv2D(3, 3, padding="same", seed=0), ReLU(), Flatten(), Dense(1, seed=1), Sigmoid()])


@pytest.mark.parametrize("method", ["complex", "central"])
def test_a_small_cnn_passes_check_gradients(method: str) -> None:
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((4, 5, 5, 2)), rng.integers(0, 2, (4, 1)).astype(np.float64)
    model = small_cnn()
    model.forward(x)
    report = check_gradients(model, BCELoss(), x, y, method=method)  # type: ignore[arg-type]
    assert report.passed, str(report)


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    x = np.random.default_rng(6).standard_normal((3, 6, 5, 2))
    model = Sequential([Conv2D(4, (3, 2), strides=(2, 1), padding="same", seed=2), ReLU(), Flatten(), Dense(2)])
    before = model.forward(x)
    model.save(tmp_path / "cnn")
    loaded = load_model(tmp_path / "cnn")
    np.testing.assert_array_equal(loaded.forward(x), before)
    conv = loaded.layers[0]
    assert isinstance(conv, Conv2D) and conv.get_config() == model.layers[0].get_config()


def test_get_config_rebuilds_the_layer() -> None:
    layer = Conv2D(5, (3, 1), strides=(1, 2), padding="same", seed=7, init="glorot", dtype=np.float32)
    assert layer.get_config() == {"filters": 5, "kernel_size": [3, 1], "strides": [1, 2], "padding": "same",
                                  "seed": 7, "init": "glorot", "dtype": "float32"}
    rebuilt = Conv2D(**layer.get_config())  # type: ignore[arg-type]
    x = np.ones((1, 4, 4, 2), dtype=np.float32)
    np.testing.assert_array_equal(rebuilt.forward(x), layer.forward(x))
    assert layer.forward(x).dtype == np.float32


def test_complex_input_runs_without_branches() -> None:
    layer = Conv2D(2, 3, padding="same", seed=0)
    x = np.random.default_rng(0).standard_normal((1, 4, 4, 2))
    y = layer.forward(x + 1e-20j * x)
    np.testing.assert_allclose(y.imag, 1e-20 * (layer.forward(x) - layer.b.value))


@pytest.mark.parametrize(("make", "shape", "message"), [
    (lambda: Conv2D(2, 3), (2, 8, 8), r"Conv2D\(\? -> 2.*expects images \(batch, H, W, C\), channels last, got shape \(2, 8, 8\)"),
    (lambda: Conv2D(2, 3), (2, 3, 64, 64),
     r"expects images \(batch, H, W, C\), got shape \(2, 3, 64, 64\): channels-first\? transpose to "
     r"\(batch, H, W, C\)"),
    (lambda: Conv2D(2, 5), (2, 3, 4, 2), r"the 5x5 kernel is larger than the 3x4 image \(input shape \(2, 3, 4, 2\)\) with padding='valid'"),
])
def test_bad_inputs_raise_shape_errors(make: object, shape: tuple[int, ...], message: str) -> None:
    layer = make()  # type: ignore[operator]
    with pytest.raises(ShapeError, match=message):
        layer.forward(np.ones(shape))


def test_channels_first_after_build_and_wrong_channels() -> None:
    layer = Conv2D(2, 3, seed=0)
    layer.forward(np.ones((1, 6, 6, 3)))
    with pytest.raises(ShapeError, match=r"expects images \(batch, H, W, 3\), got shape \(1, 3, 6, 6\): channels-first\?"):
        layer.forward(np.ones((1, 3, 6, 6)))
    with pytest.raises(ShapeError, match=r"expects images \(batch, H, W, 3\), got shape \(1, 6, 6, 2\): 2 channels"):
        layer.forward(np.ones((1, 6, 6, 2)))


def test_same_padding_takes_a_kernel_larger_than_the_image() -> None:
    assert Conv2D(1, 5, padding="same", seed=0).forward(np.ones((1, 2, 3, 1))).shape == (1, 2, 3, 1)


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"filters": 2, "kernel_size": 3, "strides": 0}, ValueRangeError, r"Conv2D: strides must be at least 1, got 0"),
    ({"filters": 2, "kernel_size": 3, "strides": (1, -1)}, ValueRangeError, r"strides must be at least 1"),
    ({"filters": 2, "kernel_size": 0}, ValueRangeError, r"kernel_size must be at least 1"),
    ({"filters": 0, "kernel_size": 3}, ValueRangeError, r"filters must be at least 1"),
    ({"filters": 2, "kernel_size": 3, "padding": "full"}, ValueRangeError,
     r"Conv2D: unknown padding 'full', expected 'valid' or 'same'"),
    ({"filters": 2, "kernel_size": 2.5}, ConfigError, r"Conv2D: kernel_size must be an int or a pair of ints"),
    ({"filters": 2, "kernel_size": (3, 3, 3)}, ConfigError, r"Conv2D: kernel_size must be an int or a pair of ints"),
])
def test_bad_arguments_raise(kwargs: dict[str, object], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        Conv2D(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("kernel", "strides", "padding"), CONFIGS)
def test_matches_torch(kernel: int | tuple[int, int], strides: int | tuple[int, int], padding: str) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(8)
    x, layer = rng.standard_normal((2, 7, 6, 3)), Conv2D(4, kernel, strides=strides, padding=padding, seed=8)  # type: ignore[arg-type]
    y = layer.forward(x)
    layer.b.value[...] = rng.standard_normal(4)
    y = layer.forward(x)
    g = rng.standard_normal(y.shape)
    dx = layer.backward(g)
    (kh, kw), (sh, sw) = pair(kernel), pair(strides)
    xt = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
    wt = torch.tensor(layer.W.value.transpose(3, 2, 0, 1), requires_grad=True)
    bt = torch.tensor(layer.b.value, requires_grad=True)
    xin = xt
    if padding == "same":
        ph = max((math.ceil(7 / sh) - 1) * sh + kh - 7, 0)
        pw = max((math.ceil(6 / sw) - 1) * sw + kw - 6, 0)
        xin = torch.nn.functional.pad(xt, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
    yt = torch.nn.functional.conv2d(xin, wt, bt, stride=(sh, sw))
    yt.backward(torch.tensor(g.transpose(0, 3, 1, 2)))
    np.testing.assert_allclose(y, yt.detach().numpy().transpose(0, 2, 3, 1), atol=1e-10)
    np.testing.assert_allclose(dx, xt.grad.numpy().transpose(0, 2, 3, 1), atol=1e-10)
    np.testing.assert_allclose(layer.W.grad, wt.grad.numpy().transpose(2, 3, 1, 0), atol=1e-10)
    np.testing.assert_allclose(layer.b.grad, bt.grad.numpy(), atol=1e-10)


@pytest.mark.parametrize(("kernel", "strides", "padding"), CONFIGS)
def test_the_checkers_hooks_give_the_forward_of_the_moved_input_and_weights(
        kernel: int | tuple[int, int], strides: int | tuple[int, int], padding: str) -> None:
    """perturbed_inputs, perturbed_outputs and moved_input skip the forward (the convolution is linear
    in x, W and b): each must give what the forward gives at the moved point, at every entry."""
    rng = np.random.default_rng(9)
    layer = Conv2D(3, kernel, strides=strides, padding=padding, seed=9)  # type: ignore[arg-type]
    x = rng.standard_normal((2, 7, 6, 2))
    out = layer.forward(x)
    layer.b.value[...] = rng.standard_normal(3)
    out = layer.forward(x)
    for index, got in enumerate(layer.perturbed_inputs(x, out, np.arange(x.size), 1e-3j)):  # every entry in one stack
        moved = x.astype(complex)
        moved.flat[index] += 1e-3j
        np.testing.assert_allclose(got, layer.forward(moved), atol=1e-15)
    for param in (layer.W, layer.b):
        for index, got in enumerate(layer.perturbed_outputs(x, out, param, np.arange(param.size), 0.5)):
            param.value.flat[index] += 0.5
            np.testing.assert_allclose(got, layer.forward(x), atol=1e-12)
            param.value.flat[index] -= 0.5
    directions = rng.standard_normal((3, *x.shape))
    np.testing.assert_allclose(layer.moved_input(x, out, directions, 0.5),
                               np.stack([layer.forward(x + 0.5 * d) for d in directions]), atol=1e-12)


@pytest.mark.parametrize("sizes", [((8, 8), (7, 7)), ((7, 9), (8, 8)), ((8, 8), (8, 8))], ids=str)
def test_a_same_convolution_of_images_of_another_size_forgets_the_last_ones(sizes: tuple[tuple[int, int], ...]) -> None:
    """At stride 2, 8 and 7 rows pad to the same 9 rows, the image at row 0 or row 1 of them: the reused
    zero-bordered copy must not keep the last image's rows."""
    rng = np.random.default_rng(0)
    conv = Conv2D(2, 3, strides=2, padding="same", seed=0)
    for h, w in sizes:
        x = rng.standard_normal((2, h, w, 1))
        np.testing.assert_array_equal(conv.forward(x), Conv2D(2, 3, strides=2, padding="same", seed=0).forward(x))


@pytest.mark.parametrize("channels", [3, 16], ids=["28 columns", "145 columns"])
def test_the_weight_gradient_is_the_windows_times_the_gradient(channels: int) -> None:
    """dL/dW[a, b, c, f] = Σ x[n, i + a, j + b, c] g[n, i, j, f], by einsum, whichever product Conv2D
    takes for its im2col matrix (a wide one, 3 x 3 x 16 + 1 columns, as (gᵀ [cols 1])ᵀ)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 6, 7, channels))
    conv = Conv2D(4, 3, seed=0)
    g = rng.standard_normal(conv.forward(x).shape)
    conv.backward(g)
    windows = np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(1, 2))  # (n, i, j, c, a, b)
    np.testing.assert_allclose(conv.W.grad, np.einsum("nijcab,nijf->abcf", windows, g), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(conv.b.grad, g.sum(axis=(0, 1, 2)), rtol=1e-12)
