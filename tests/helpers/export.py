"""Random models of each kind, and their inputs, for the tests of the exports (tests/export/): a dense
chain, convnets (Conv2D 'valid' and 'same' with odd padding and strides, the pools, Flatten and
Reshape, BatchNorm), a graph with merges and a shared layer, models nested in both containers, and a
sequence model (Embedding's integer inputs, LayerNorm, the smooth activations); and the settings of
single layers that their examples do not reach."""

from collections.abc import Callable
import numpy as np
import numpy.typing as npt
from hypothesis import strategies as st

from framework import (
    ELU, GELU, Add, AvgPool2D, BatchNorm, Buffer, Concatenate, Conv2D, Dense, Dropout, Embedding, Flatten,
    GlobalAvgPool2D, GlobalMaxPool2D, Identity, Input, LayerNorm, LeakyReLU, MaxPool2D, Model, Multiply, Normalization,
    ReLU, Reshape, Sequential, Sigmoid, SiLU, Softmax, Softplus, Swish, Tanh,
)
from framework.containers.base import Container
from framework.core.arrays import Array
from framework.core.layer import KeepsShape, Layer, Merge, Module
from framework.layers.images import Padding

Built = tuple[Container, list[Array]]


def randomize(model: Container, rng: np.random.Generator) -> None:
    """Every weight drawn at random: parameters N(0, 0.5²), BatchNorm's running means N(0, 0.5²) and
    variances in [0.5, 2], so that the inference form of each layer does something."""
    weights = []
    for _, w in model.named_weights():
        low = isinstance(w, Buffer) and w.minimum is not None
        weights.append(rng.uniform(0.5, 2.0, w.value.shape) if low else rng.normal(0.0, 0.5, w.value.shape))
    model.set_weights(weights)


def dense(rng: np.random.Generator, dtype: npt.DTypeLike = np.float64) -> Built:
    n = int(rng.integers(3, 8))
    norm = Normalization(dtype=dtype)
    norm.adapt(rng.normal(1.0, 2.0, (50, n)))
    model = Sequential([Input(n), norm, Dense(8, dtype=dtype), Tanh(), Dropout(0.3, seed=0), Dense(6, dtype=dtype),
                        BatchNorm(dtype=dtype), LeakyReLU(0.2), Dense(5, dtype=dtype), ELU(0.7), Identity(),
                        Dense(4, dtype=dtype), Sigmoid(), Dense(3, dtype=dtype), Softmax()])
    return model, [rng.standard_normal((int(rng.integers(2, 9)), n)).astype(dtype)]


def convnet(rng: np.random.Generator, dtype: npt.DTypeLike = np.float64) -> Built:
    """Conv2D 'same' with strides (odd padding at the bottom or right), 'valid' with a non-square
    kernel, BatchNorm over channels, the max and average pools with 'same' padding and strides."""
    h, w = (int(v) for v in rng.integers(9, 13, 2))
    strides = (int(rng.integers(1, 3)), int(rng.integers(2, 4)))
    model = Sequential([
        Input((h, w, 2)), Conv2D(3, 3, strides=strides, padding="same", dtype=dtype), ReLU(),
        Conv2D(4, (2, 3), dtype=dtype), BatchNorm(dtype=dtype),
        MaxPool2D(2, strides=1, padding="same"), AvgPool2D(3, strides=2, padding="same"), Flatten(),
        Dense(5, dtype=dtype), Sigmoid(),
    ])
    return model, [rng.standard_normal((int(rng.integers(2, 6)), h, w, 2)).astype(dtype)]


def reshaped_convnet(rng: np.random.Generator, dtype: npt.DTypeLike = np.float64) -> Built:
    """Flat rows reshaped into images; 'valid' pools with strides; the global pools side by side;
    Normalization along an image axis."""
    norm = Normalization(axis=1, dtype=dtype)
    norm.adapt(rng.normal(0.0, 3.0, (20, 6, 6, 2)))
    x = Input(72)
    images = norm(Reshape((6, 6, 2))(x))
    h = Tanh()(Conv2D(4, 2, padding="same", dtype=dtype)(images))
    h = MaxPool2D(2)(h)  # (batch, 3, 3, 4)
    h = AvgPool2D(2, strides=1)(Conv2D(3, (1, 2), strides=(1, 2), padding="same", dtype=dtype)(h))  # (batch, 2, 1, 3)
    pooled = Concatenate()([GlobalMaxPool2D()(h), GlobalAvgPool2D()(h)])
    rows = Reshape((-1, 3))(h)  # (batch, 2, 3)
    out = Concatenate(axis=1)([Softmax(axis=1)(rows), Reshape((2, 3))(pooled)])
    return Model(x, Flatten()(out)), [rng.standard_normal((3, 72)).astype(dtype)]


def graph(rng: np.random.Generator, dtype: npt.DTypeLike = np.float64) -> Built:
    """Two inputs, a residual Add, a Concatenate, a Multiply of three, and a Dense called twice."""
    a, b = Input(5, name="a"), Input(5, name="b")
    shared = Dense(5, 5, dtype=dtype)
    h = Add()([a, shared(ReLU()(Dense(5, 5, dtype=dtype)(a)))])
    g = Multiply()([shared(b), Tanh()(b), Sigmoid()(h)])
    out = Dense(2, dtype=dtype)(Concatenate()([h, g, a]))
    batch = int(rng.integers(2, 7))
    return Model([a, b], Softmax()(out)), [rng.standard_normal((batch, 5)).astype(dtype) for _ in range(2)]


def nested(rng: np.random.Generator, dtype: npt.DTypeLike = np.float64) -> Built:
    """A Sequential nested in a graph Model, itself nested (with another Sequential) in a Sequential."""
    inner = Sequential([Dense(4, 6, dtype=dtype), ELU(), BatchNorm(dtype=dtype)])
    x = Input(4)
    block = Model(x, Add()([inner(x), Dense(6, dtype=dtype)(x)]))
    model = Sequential([Input(4), block, ReLU(), Sequential([Dense(6, 3, dtype=dtype), Tanh()]), Dense(2, dtype=dtype)])
    return model, [rng.standard_normal((int(rng.integers(2, 7)), 4)).astype(dtype)]


def sequence(rng: np.random.Generator, dtype: npt.DTypeLike = np.float64) -> Built:
    """Token ids (batch, 6) embedded, LayerNorm over the features and over (seq, features) between
    GELU, Swish and Softplus, then flattened into Dense layers with SiLU and GELU's tanh form."""
    model = Sequential([
        Input(6), Embedding(7, 5, dtype=dtype), LayerNorm(dtype=dtype), GELU(), Swish(),
        LayerNorm(axis=[1, 2], epsilon=0.1, dtype=dtype), Softplus(), Flatten(), Dense(5, dtype=dtype), SiLU(),
        Dense(3, dtype=dtype), GELU(approximate="tanh"),
    ])
    indices: Array = rng.integers(0, 7, (int(rng.integers(2, 7)), 6))  # type: ignore[assignment]
    return model, [indices]


KINDS: dict[str, Callable[..., Built]] = {
    "dense": dense, "convnet": convnet, "reshaped_convnet": reshaped_convnet, "graph": graph, "nested": nested,
    "sequence": sequence,
}


def random_model(kind: str, seed: int, dtype: npt.DTypeLike = np.float64) -> Built:
    rng = np.random.default_rng(seed)
    model, xs = KINDS[kind](rng, dtype)
    randomize(model, rng)
    return model, xs


PADDINGS: tuple[Padding, ...] = ("valid", "same")


@st.composite
def windowed(draw: st.DrawFn) -> Built:
    """A Conv2D then a max or average pool of any kernel, strides and padding that fit an image of
    3 to 9 rows and columns: 'same' padding of every parity, strides larger than the window too."""
    h, w, c = draw(st.integers(3, 9)), draw(st.integers(3, 9)), draw(st.integers(1, 3))
    padding = draw(st.sampled_from(PADDINGS))
    kernel = (draw(st.integers(1, h)), draw(st.integers(1, w)))
    strides = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    conv = Conv2D(draw(st.integers(1, 3)), kernel, strides=strides, padding=padding)
    model = Sequential([Input((h, w, c)), conv])
    out_h, out_w = model.output_shape((1, h, w, c))[1:3]
    pool = draw(st.sampled_from([MaxPool2D, AvgPool2D]))
    pool_padding = draw(st.sampled_from(PADDINGS))
    size = (draw(st.integers(1, out_h)), draw(st.integers(1, out_w)))
    model = Sequential([Input((h, w, c)), conv, pool(size, strides=(draw(st.integers(1, 3)), draw(st.integers(1, 3))),
                                                     padding=pool_padding)])
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    randomize(model, rng)
    return model, [rng.standard_normal((2, h, w, c))]


def _wide(rng: np.random.Generator, shape: tuple[int, ...]) -> Array:
    """N(0, 10²) entries, and ±30 and ±1000 among them: the tails where exp overflows and torch's
    Softplus switches to x (beyond 20)."""
    x = rng.normal(0.0, 10.0, shape)
    x.flat[:4] = [30.0, -30.0, 1000.0, -1000.0]
    return x


SETTINGS: dict[str, Callable[[np.random.Generator], tuple[Module, list[Array]]]] = {
    "GELU(tanh)": lambda rng: (GELU(approximate="tanh"), [_wide(rng, (3, 8))]),
    "GELU(wide)": lambda rng: (GELU(), [_wide(rng, (3, 8))]),
    "Swish(wide)": lambda rng: (Swish(), [_wide(rng, (3, 8))]),
    "Softplus(wide)": lambda rng: (Softplus(), [_wide(rng, (3, 8))]),
    "LayerNorm(-1)": lambda rng: (LayerNorm(), [rng.normal(2.0, 3.0, (4, 5))]),
    "LayerNorm(1 of 3)": lambda rng: (LayerNorm(axis=1, epsilon=0.5), [rng.standard_normal((3, 4, 2))]),
    "LayerNorm([1, 3])": lambda rng: (LayerNorm(axis=[-3, 3]), [rng.standard_normal((2, 3, 2, 4))]),
    "LayerNorm(center=False)": lambda rng: (LayerNorm(axis=[1, 2], center=False), [rng.standard_normal((3, 4, 2))]),
    "LayerNorm(scale=False)": lambda rng: (LayerNorm(axis=1, scale=False), [rng.standard_normal((3, 4, 2))]),
    "LayerNorm(neither)": lambda rng: (LayerNorm(center=False, scale=False), [rng.standard_normal((3, 4))]),
    "Embedding(ends)": lambda rng: (Embedding(4, 2, seed=1), [np.array([[0, 3, 3], [3, 0, 1]])]),
}
"""Layers in settings their `example` does not take, each on an input that reaches them: GELU's tanh
form and the activations' tails, LayerNorm over the last axis, one inner axis, two apart (one
counted from the end), without gamma, beta or both; an Embedding's first and last rows."""


def setting(name: str, rng: np.random.Generator) -> tuple[Model, list[Array]]:
    """The model of `SETTINGS[name]` alone, built on its input, its weights drawn at random."""
    layer, xs = SETTINGS[name](rng)
    model = one_layer_model(layer, xs)
    randomize(model, rng)
    return model, xs


def one_layer_model(layer: Module, xs: list[Array]) -> Model:
    """A graph Model of `layer` alone, on inputs shaped as `xs` ("x0", "x1", ...)."""
    inputs = [Input(x.shape[1:], name=f"x{i}") for i, x in enumerate(xs)]
    if isinstance(layer, Merge):
        return Model(inputs, layer(inputs))
    assert isinstance(layer, Layer)
    return Model(inputs, layer(inputs[0]))


class Twice(KeepsShape):
    """A custom layer: no exporter knows it."""

    def forward(self, x: Array) -> Array:
        return 2 * x

    def backward(self, grad: Array) -> Array:
        return 2 * grad


class MyDense(Dense):
    """A subclass of a built-in layer: its forward may be another, so it is not exported as Dense."""
