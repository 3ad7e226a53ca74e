"""Output shapes of layers that do not declare them: a custom layer that changes the number of
features is followed by built-in layers, lazy ones too, in a Sequential, in a graph Model and in
summary(), with nothing overridden. Its shape comes from one forward on a probe batch that leaves
no trace (caches, generators, buffers, sub-layers), and a forward that fails on it is named."""

import re
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pytest

from framework import (
    Adam, BatchNorm, BCELoss, Dense, Input, Layer, Merge, Model, Parameter, ReLU, Sequential, ShapeError, Sigmoid,
    check_gradients,
)
from framework.core.arrays import Array
from framework.core.layer import Module
from framework.core.registry import _LAYERS

Floats = npt.NDArray[np.float64]


class MyDense(Layer):
    """A learner's fully connected layer: y = x W + b, W of shape (n_in, n_out); no output_shape."""

    def __init__(self, n_in: int, n_out: int, seed: int = 0) -> None:
        super().__init__()
        self.in_features = n_in
        self.W = Parameter(np.random.default_rng(seed).standard_normal((n_in, n_out)), name="W")
        self.b = Parameter(np.zeros(n_out), name="b")
        self._x: Array | None = None

    def forward(self, x: Array) -> Array:
        self._x = x
        out: Array = x @ self.W.value + self.b.value
        return out

    def backward(self, grad: Array) -> Array:
        x = self.cached(self._x)
        self._x = None
        self.W.grad[...] = x.T @ grad
        self.b.grad[...] = grad.sum(axis=0)
        out: Array = grad @ self.W.value.T
        return out

    def __repr__(self) -> str:
        return f"MyDense({self.W.shape[0]} -> {self.W.shape[1]})"


class MyDropout(Layer):
    """A learner's dropout, drawing its mask from a numpy Generator it holds."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        self.rng = np.random.default_rng(seed)
        self._keep: npt.NDArray[np.bool_] | None = None

    def forward(self, x: Array) -> Array:
        self._keep = self.rng.random(x.shape) >= 0.5
        return x * self._keep * 2.0

    def backward(self, grad: Array) -> Array:
        return grad * self.cached(self._keep) * 2.0


class Block(Layer):
    """MyDense -> BatchNorm -> MyDropout, held as attributes (and the first two in a list too), with a
    log of the batch sizes it saw."""

    def __init__(self) -> None:
        super().__init__()
        self.dense, self.norm, self.drop = MyDense(5, 3, seed=1), BatchNorm(3), MyDropout(seed=2)
        self.parts = [self.dense, self.norm]
        self.seen: list[int] = []

    def forward(self, x: Array) -> Array:
        self.seen.append(len(x))
        return self.drop.forward(self.norm.forward(self.dense.forward(x)))

    def backward(self, grad: Array) -> Array:
        return self.dense.backward(self.norm.backward(self.drop.backward(grad)))


def data(m: int = 32, features: int = 5) -> tuple[Floats, Floats]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((m, features))
    return x, (x[:, :1] - x[:, 1:2] > 0).astype(np.float64)


def test_a_custom_layer_that_changes_the_features_is_followed_by_built_in_layers() -> None:
    model = Sequential([MyDense(5, 3), ReLU(), Dense(3, 1, seed=0), Sigmoid()])
    assert model.input_shape == (None, 5)  # from MyDense's in_features
    assert model.output_shapes((None, 5)) == [(None, 3), (None, 3), (None, 1), (None, 1)]
    assert model.output_shapes((7, 5))[0] == (7, 3)
    x, y = data()
    assert model.forward(x).shape == (32, 1)
    report = check_gradients(model, BCELoss(), x, y)
    assert report.passed, str(report)


def test_a_lazy_dense_after_a_custom_layer_builds_on_its_output() -> None:
    lazy = Dense(1, seed=0)
    model = Sequential([MyDense(5, 3), ReLU(), lazy, Sigmoid()])
    assert lazy.W.shape == (3, 1)  # built at construction, from the probed (None, 3)
    unknown = Dense(2, seed=0)
    deferred = Sequential([ReLU(), MyDense(5, 3), unknown])  # input shape unknown: built by fit
    x, y = data()
    deferred.build((x,))  # what fit and the checker do first
    assert unknown.W.shape == (3, 2)
    model.compile(loss=BCELoss(), optimizer=Adam(lr=0.05))
    history = model.fit(x, y, epochs=20, batch_size=8, verbose=0, seed=0)
    assert history.history["loss"][-1] < 0.8 * history.history["loss"][0]


def test_a_custom_layer_in_a_graph_model_with_lazy_and_sized_dense_layers(capsys: pytest.CaptureFixture[str]) -> None:
    inp = Input(5)
    h = ReLU()(MyDense(5, 3)(inp))
    assert h.shape == (None, 3)
    lazy = Dense(1, seed=1)
    model = Model(inp, Sigmoid()(lazy(Dense(3, 4, seed=0)(h))))
    assert lazy.W.shape == (4, 1)
    x, y = data()
    assert model.forward(x).shape == (32, 1)
    assert check_gradients(model, BCELoss(), x, y).passed
    model.summary()
    out = capsys.readouterr().out
    assert re.search(r"^my_dense \(MyDense\(5 -> 3\)\)\s+\(None, 3\)\s+18\s+input$", out, flags=re.M), out


def test_summary_shows_the_probed_shapes(capsys: pytest.CaptureFixture[str]) -> None:
    Sequential([MyDense(5, 3), ReLU(), Dense(1, seed=0), Sigmoid()]).summary()
    out = capsys.readouterr().out
    assert re.search(r"^0 MyDense\(5 -> 3\)\s+\(None, 3\)\s+18\s*$", out, flags=re.M), out
    assert re.search(r"^2 Dense\(3 -> 1\)\s+\(None, 1\)\s+4\s*$", out, flags=re.M), out


class Pairs(Merge):
    """The outer product of two inputs, (batch, a) and (batch, b) -> (batch, a·b); no output_shape."""

    def forward(self, xs: Sequence[Array]) -> Array:
        a, b = xs
        out: Array = (a[:, :, None] * b[:, None, :]).reshape(len(a), -1)
        return out


def test_a_custom_merge_layer_has_its_shape_probed_too() -> None:
    a, b = Input(2, name="a"), Input(3, name="b")
    node = Pairs()([a, b])
    assert node.shape == (None, 6)
    lazy = Dense(1, seed=0)
    lazy(node)
    assert lazy.W.shape == (6, 1)


def test_the_probe_leaves_no_trace_in_the_layer_its_sub_layers_generators_and_buffers() -> None:
    block = Block()
    state = block.drop.rng.bit_generator.state
    params = [(p, p.value, p.value.copy()) for p in (block.dense.W, block.dense.b, block.norm.gamma, block.norm.beta)]
    before = {id(m): dict(vars(m)) for m in (block, block.dense, block.norm, block.drop)}
    model = Sequential([Input(5), block, ReLU(), Dense(1, seed=0)])
    assert model.output_shapes((None, 5))[0] == (None, 3)
    assert block.drop.rng.bit_generator.state == state
    assert block.seen == [] and block.parts == [block.dense, block.norm]
    np.testing.assert_array_equal(block.norm.running_mean.value, [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(block.norm.running_var.value, [1.0, 1.0, 1.0])
    for m in (block, block.dense, block.norm, block.drop):
        assert vars(m) == before[id(m)], m  # no cache, no _output_dtype, the same objects
    for p, array, value in params:  # the same parameters, holding the same arrays, unchanged
        assert p.value is array and np.array_equal(array, value)
    # the first real forward draws what a fresh generator of the same seed draws
    x = np.random.default_rng(3).standard_normal((4, 5))
    block.forward(x)
    assert block.drop._keep is not None
    np.testing.assert_array_equal(block.drop._keep, np.random.default_rng(2).random((4, 3)) >= 0.5)
    assert block.seen == [4]


def test_a_custom_generator_state_is_unchanged_by_construction_and_build() -> None:
    drop, lazy = MyDropout(seed=7), Dense(1, seed=0)
    state = drop.rng.bit_generator.state
    model = Sequential([MyDense(5, 3), drop, lazy])  # MyDense and MyDropout probed
    assert lazy.W.shape == (3, 1)
    model.build((np.ones((2, 5)),))
    model.summary(print_fn=lambda line: None)
    assert drop.rng.bit_generator.state == state
    assert drop._keep is None and "_output_dtype" not in vars(drop)


def test_a_probe_between_forward_and_backward_changes_no_gradient() -> None:
    x, y = data()
    grads = []
    for probe in (False, True):
        model, loss = Sequential([Block(), Dense(1, seed=0), Sigmoid()]), BCELoss()
        loss.forward(model.forward(x), y)
        if probe:
            lines: list[str] = []
            model.summary(print_fn=lines.append, input_shape=(None, 5))  # probes Block between its forward and its backward
            assert re.search(r"^0 Block\(\)\s+\(None, 3\)\s", lines[0], flags=re.M), lines[0]
        model.backward(loss.backward())
        grads.append([p.grad.copy() for p in model.parameters()])
    assert np.abs(grads[0][0]).max() > 1e-3
    for without, with_probe in zip(*grads, strict=True):
        np.testing.assert_array_equal(without, with_probe)


class WantsFour(Layer):
    """A layer that refuses, in its own words, any input but 4 features."""

    def forward(self, x: Array) -> Array:
        if x.shape[1] != 4:
            raise ValueError(f"wants 4 features, got {x.shape[1]}")
        return x[:, :2]


class Total(Layer):
    """Sums the whole batch to one number: an output without a batch axis."""

    def forward(self, x: Array) -> Array:
        return np.asarray(x.sum())


def test_a_forward_that_fails_on_the_probe_is_named_with_the_probe_shape() -> None:
    message = ("Sequential: layer 1 WantsFour() does not fit after layer 0 Dense(2 -> 3): WantsFour() does not "
               "declare its output shape, and its forward raised on a probe batch of shape (2, 3): ValueError: wants 4 "
               "features, got 3; override output_shape(input_shape) to return the output shape")
    with pytest.raises(ShapeError, match=re.escape(message)):
        Sequential([Dense(2, 3), WantsFour()])
    with pytest.raises(ShapeError, match=r"MyDense\(5 -> 3\) cannot be called on input \(None, 4\): MyDense\(5 -> 3\) "
                                         r"does not declare its output shape, and its forward raised on a probe batch of "
                                         r"shape \(2, 4\): ShapeError: MyDense\(5 -> 3\).forward: numpy could not "
                                         r"multiply the matrices: matmul"):
        MyDense(5, 3)(Input(4))
    with pytest.raises(ShapeError, match=re.escape("Total() gave shape () for a probe batch of shape (2, 3): an output "
                                                   "keeps the batch axis first; override output_shape(input_shape)")):
        Sequential([Input(3), Total()])
    assert WantsFour().output_shape((5, 4)) == (5, 2)


def test_every_built_in_layer_declares_its_output_shape_and_is_never_probed(monkeypatch: pytest.MonkeyPatch) -> None:
    built_in = [cls for cls in _LAYERS.values() if cls.__module__.startswith("framework.")]
    assert len(built_in) >= 15
    for cls in built_in:
        default = Merge.output_shape if issubclass(cls, Merge) else Layer.output_shape
        assert cls.output_shape is not default, cls.__name__  # type: ignore[attr-defined]

    def refuse(self: Module, *args: object) -> tuple[int, ...]:
        raise AssertionError(f"{self!r} was probed")

    monkeypatch.setattr(Module, "probe_shape", refuse)
    from framework import Dropout, ELU, Flatten, Identity, LeakyReLU, Softmax, Tanh

    Sequential([Input(6), Dense(4), ReLU(), Tanh(), LeakyReLU(), ELU(), Identity(), Dropout(0.5, seed=0),
                BatchNorm(), Softmax(), Flatten(), Dense(1), Sigmoid()]).summary(print_fn=lambda line: None)
