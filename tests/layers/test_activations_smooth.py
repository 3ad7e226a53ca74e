"""GELU (exact and tanh), Swish/SiLU and Softplus: values and derivatives from `math`, PyTorch's
forward and autograd on the same inputs, the checker by both methods, the complex step, huge inputs
in float32 and float64, and saving."""

import math
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings

from framework import GELU, Dense, Layer, Sequential, SiLU, Softplus, Swish, ValueRangeError, check_layer, load_model
from framework.core.arrays import Shape
from tests.helpers.layers import MATRICES, METHODS, SEEDS, H, Method, assert_passes, normal

SMOOTH: dict[str, Callable[[], Layer]] = {
    "GELU": GELU, "GELU-tanh": lambda: GELU(approximate="tanh"), "Swish": Swish, "SiLU": SiLU, "Softplus": Softplus,
}
C = math.sqrt(2 / math.pi)


def cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2))


def pdf(x: float) -> float:
    return math.exp(-x * x / 2) / math.sqrt(2 * math.pi)


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))


def tanh_form(x: float) -> float:
    return 0.5 * x * (1 + math.tanh(C * (x + 0.044715 * x**3)))


def tanh_form_slope(x: float) -> float:
    t = math.tanh(C * (x + 0.044715 * x**3))
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * C * (1 + 3 * 0.044715 * x * x)


REFERENCE: dict[str, tuple[Callable[[float], float], Callable[[float], float]]] = {
    "GELU": (lambda x: x * cdf(x), lambda x: cdf(x) + x * pdf(x)),
    "GELU-tanh": (tanh_form, tanh_form_slope),
    "Swish": (lambda x: x * sigmoid(x), lambda x: sigmoid(x) * (1 + x * (1 - sigmoid(x)))),
    "SiLU": (lambda x: x * sigmoid(x), lambda x: sigmoid(x) * (1 + x * (1 - sigmoid(x)))),
    "Softplus": (lambda x: max(x, 0.0) + math.log1p(math.exp(-abs(x))), sigmoid),
}
X = [-30.0, -5.0, -1.5, -0.1, 0.0, 0.3, 2.0, 7.0, 30.0]


@pytest.mark.parametrize("name", SMOOTH)
def test_forward_and_backward_match_math(name: str) -> None:
    value, slope = REFERENCE[name]
    layer = SMOOTH[name]()
    g = np.linspace(-2.0, 3.0, len(X))[np.newaxis]
    # Φ(-30) has a relative condition number of x² = 900: the rounding of x/√2 alone moves it by 1e-13
    np.testing.assert_allclose(layer.forward(np.array([X])), [[value(x) for x in X]], rtol=3e-13, atol=1e-300)
    np.testing.assert_allclose(layer.backward(g), g * [[slope(x) for x in X]], rtol=1e-13, atol=1e-300)


def test_gelu_at_hand_values() -> None:
    y = GELU().forward(np.array([[0.0, 1.0, -1.0]]))
    assert y[0, 0] == 0.0
    assert y[0, 1] == pytest.approx(0.8413447460685429, rel=1e-15)  # Φ(1)
    assert y[0, 2] == pytest.approx(-0.15865525393145707, rel=1e-15)  # -Φ(-1) = -(1 - Φ(1))
    tail = GELU().forward(np.array([[-10.0]]))
    assert tail[0, 0] == pytest.approx(-10 * 7.619853024160527e-24, rel=1e-13)  # 1 + erf would round Φ(-10) to 0


TORCH: dict[str, Callable[[object], object]] = {
    "GELU": lambda nn: nn.GELU(),  # type: ignore[attr-defined]
    "GELU-tanh": lambda nn: nn.GELU(approximate="tanh"),  # type: ignore[attr-defined]
    "Swish": lambda nn: nn.SiLU(),  # type: ignore[attr-defined]
    "SiLU": lambda nn: nn.SiLU(),  # type: ignore[attr-defined]
    "Softplus": lambda nn: nn.Softplus(threshold=1e9),  # type: ignore[attr-defined]  # no switch to x beyond 20
}


@pytest.mark.parametrize("name", SMOOTH)
@pytest.mark.parametrize("seed", [0, 1])
def test_forward_and_backward_match_torch(name: str, seed: int) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    x, g = rng.normal(0, 4, (6, 7)), rng.standard_normal((6, 7))
    xt = torch.tensor(x, requires_grad=True)
    yt = TORCH[name](torch.nn)(xt)  # type: ignore[operator]
    yt.backward(torch.tensor(g))
    layer = SMOOTH[name]()
    np.testing.assert_allclose(layer.forward(x), yt.detach().numpy(), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(layer.backward(g), xt.grad.numpy(), rtol=1e-13, atol=1e-15)


def test_softplus_matches_torchs_default_below_its_threshold() -> None:
    torch = pytest.importorskip("torch")
    x = np.linspace(-19.0, 19.0, 77)[np.newaxis]
    expected = torch.nn.Softplus()(torch.tensor(x)).numpy()
    np.testing.assert_allclose(Softplus().forward(x), expected, rtol=1e-15, atol=0)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", SMOOTH)
@settings(max_examples=8)
@given(shape=MATRICES, seed=SEEDS)
def test_pass_check_layer(name: str, method: Method, shape: Shape, seed: int) -> None:
    assert_passes(check_layer(SMOOTH[name](), 3 * normal(seed, shape), method=method))


@pytest.mark.parametrize("name", SMOOTH)
def test_the_complex_step_of_forward_is_backwards_slope(name: str) -> None:
    x = np.array([[-6.0, -1.5, -0.1, 0.0, 0.3, 2.0, 9.0, 12.0]])
    layer = SMOOTH[name]()
    out = layer.forward(x + 1j * H)
    assert out.dtype == np.complex128
    # complex tanh, exp and log1p round their real parts otherwise than the real ones do: 1e-16 of 1 + t
    np.testing.assert_allclose(out.real, SMOOTH[name]().forward(x), rtol=1e-15, atol=1e-15)
    layer.forward(x)
    np.testing.assert_allclose(out.imag / H, layer.backward(np.ones_like(x)), rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", SMOOTH)
def test_huge_inputs_give_finite_values_and_slopes(name: str, dtype: type[np.floating[npt.NBitBase]]) -> None:
    # pytest runs with filterwarnings=error and the guard raises on overflow: either would fail this test
    big = float(np.finfo(dtype).max) / 2
    x = np.array([[-big, -1e4, -1e3, 0.0, 1e3, 1e4, big]], dtype=dtype)
    layer = SMOOTH[name]()
    y = layer.forward(x)
    assert y.dtype == dtype
    np.testing.assert_array_equal(y[0, [0, 1, 2]], 0.0)  # Softplus: exp(-|x|) = 0; the others: x · 0
    np.testing.assert_array_equal(y[0, [4, 5, 6]], x[0, [4, 5, 6]])
    dx = layer.backward(np.ones_like(x))
    assert dx.dtype == dtype
    np.testing.assert_array_equal(dx[0, [0, 1, 2, 4, 5, 6]], [0.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    assert dx[0, 3] == 0.5


def test_gelu_refuses_an_unknown_approximation() -> None:
    with pytest.raises(ValueRangeError, match=r"GELU: approximate='erf' is not one of 'none', 'tanh'"):
        GELU(approximate="erf")  # type: ignore[arg-type]


@pytest.mark.parametrize("name", SMOOTH)
def test_saved_and_loaded_under_its_own_name(name: str) -> None:
    model = Sequential([Dense(3, 4, seed=0), SMOOTH[name]()])
    x = normal(0, (5, 3))
    with tempfile.TemporaryDirectory() as folder:
        loaded = load_model(model.save(Path(folder) / "smooth.safetensors"))
    assert type(loaded.layers[1]) is type(model.layers[1]) and repr(loaded.layers[1]) == repr(model.layers[1])
    assert loaded.get_config() == model.get_config()
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert repr(SiLU()) == "SiLU()" and repr(GELU(approximate="tanh")) == "GELU(approximate='tanh')"
