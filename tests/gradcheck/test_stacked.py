"""The checker's stacked probes: every layer's `forward_stack` and every loss's `costs` give, probe for
probe, what their own forward gives, and a check stacked K at a time gives the derivatives of one a
probe at a time (`probes_at_once=1`); the parts that take probes one at a time are named."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framework import (
    Add, BatchNorm, BCELoss, BCEWithLogitsLoss, Concatenate, Conv2D, CrossEntropyLoss, Dense, Dropout, Flatten, Input,
    Layer, Loss, MaxPool2D, Merge, Model, MSELoss, ReLU, Sequential, Sigmoid, check_gradients, check_layer,
    registered_layers,
)
from framework.core.arrays import Array, Labels, Scalar
from framework.core.complex_parts import SharedReal
from framework import StackingError
from framework.core.errors import ShapeError, ValueRangeError
from tests.integration.test_every_layer import LOSSES, loss_example

LAYERS = registered_layers()
BUILT_IN = sorted(name for name, cls in LAYERS.items() if cls.__module__.startswith("framework."))


@pytest.mark.parametrize("name", BUILT_IN)
@settings(max_examples=3, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), training=st.booleans())
def test_every_layers_stack_is_its_forward_probe_by_probe(name: str, seed: int, training: bool) -> None:
    rng = np.random.default_rng(seed)
    layer, inputs = LAYERS[name].example(rng)
    layer.training, layer.replay = training, True  # Dropout applies the mask it drew to every probe
    stacks = [np.stack([x, x[::-1], x]) if x.dtype.kind in "iu"  # indices (an Embedding's) are not probed
              else x + 1e-3j * rng.standard_normal((3, *x.shape)) for x in inputs]  # 3 complex probes of each input
    if isinstance(layer, Merge):
        got = layer.forward_stack(stacks)
        expected = [layer.forward([s[k] for s in stacks]) for k in range(3)]
    else:
        assert isinstance(layer, Layer)
        layer.forward(inputs[0])  # the point: Dropout draws its mask here
        got = layer.forward_stack(stacks[0])
        expected = [layer.forward(s) for s in stacks[0]]
    np.testing.assert_allclose(got, np.stack(expected), rtol=1e-13, atol=1e-15)
    assert layer.stacks_probes  # every built-in layer runs a stack at once


def test_batchnorm_in_training_normalises_each_probe_by_its_own_statistics() -> None:
    rng = np.random.default_rng(0)
    layer = BatchNorm(3)
    x = rng.standard_normal((5, 3))
    stack = np.stack([x, x + 1])  # the second probe, centred, is the first
    running = layer.running_mean.value.copy()
    out = layer.forward_stack(stack)
    np.testing.assert_allclose(out[0], out[1], atol=1e-12)
    np.testing.assert_allclose(out[0].mean(axis=0), 0, atol=1e-12)
    np.testing.assert_array_equal(layer.running_mean.value, running)  # a probe moves no running statistic


@pytest.mark.parametrize("cls", LOSSES, ids=lambda c: c.__name__)
def test_every_losss_costs_are_its_value_probe_by_probe(cls: type[Loss]) -> None:
    rng = np.random.default_rng(0)
    loss = cls()
    y_pred, y_true = loss_example(loss, rng)
    y = loss.check(y_pred, y_true)
    stack = y_pred + 1e-3j * rng.standard_normal((4, *y_pred.shape))
    np.testing.assert_allclose(loss.costs(stack, y), [loss.value(p, y) for p in stack], rtol=1e-14)
    assert loss.costs(y_pred, y).shape == ()


@pytest.mark.parametrize("cls", LOSSES, ids=lambda c: c.__name__)
def test_the_checker_runs_every_built_in_loss_on_whole_stacks(cls: type[Loss]) -> None:
    """Not one probe at a time, as it does a loss that overrides `forward` (a custom one's `forward` may
    hold anything): a built-in loss that overrode it would slow the check down a third."""
    loss = cls()
    y_pred, y_true = loss_example(loss, np.random.default_rng(0))
    model = Sequential([Dense(3, y_pred.shape[1], seed=0), *([Sigmoid()] if cls is BCELoss else [])])
    report = check_gradients(model, loss, np.random.default_rng(1).standard_normal((6, 3)), y_true, localize=False)
    assert report.passed, str(report)
    assert all(row.path.startswith("stacked") and "one by one" not in row.path for row in report.rows), str(report)


def test_bce_of_soft_labels_takes_both_logs() -> None:
    a, y = np.array([[0.9], [0.2]]), np.array([[0.3], [1.0]])  # -(0.3 log 0.9 + 0.7 log 0.1 + log 0.2) / 2
    expected = -(0.3 * np.log(0.9) + 0.7 * np.log(0.1) + np.log(0.2)) / 2
    assert BCELoss().forward(a, y) == pytest.approx(expected, rel=1e-15)


def convnet() -> Sequential:
    return Sequential([Input((6, 6, 2)), Conv2D(3, 3, padding="same", seed=0), ReLU(), MaxPool2D(2), BatchNorm(),
                       Conv2D(2, 2, strides=2, seed=1), Flatten(), Dropout(0.3, seed=2), Dense(2, 1, seed=3), Sigmoid()])


def graph() -> Model:
    x = Input(5)
    a = ReLU()(Dense(5, 4, seed=0)(x))
    b = Dense(5, 4, seed=1)(x)
    h = Concatenate()([Add()([a, b]), b])
    return Model(x, Sigmoid()(Dense(8, 1, seed=2)(h)))


@pytest.mark.parametrize("build", [convnet, graph], ids=["convnet", "graph"])
@pytest.mark.parametrize("mode", ["full", "directional"])
def test_a_check_stacked_k_at_a_time_is_as_exact_as_one_a_probe_at_a_time(build: object, mode: str) -> None:
    """(test_resumed compares the derivatives themselves, stack by stack.)"""
    rng = np.random.default_rng(0)
    shape = (6, 6, 2) if build is convnet else (5,)
    x, y = rng.standard_normal((7, *shape)), rng.integers(0, 2, (7, 1)).astype(float)
    reports = [check_gradients(build(), BCELoss(), x, y, mode=mode, localize=False,  # type: ignore[operator, arg-type]
                               probes_at_once=k) for k in (None, 1, 5)]  # a new model each: Dropout's same mask
    for report in reports:
        assert report.passed, str(report)
        assert report.worst_relative_error < 1e-12
    stacked, alone, fives = (r.rows for r in reports)
    for a, b, c in zip(stacked, alone, fives, strict=True):
        assert a.path.startswith("stacked") and b.path.startswith("one at a time") and c.path.startswith("stacked, 5")


class Doubled(Layer):
    """A custom layer that says nothing of its samples: probes go through it one at a time."""

    def forward(self, x: Array) -> Array:
        return 2 * x

    def backward(self, grad: Array) -> Array:
        return 2 * grad


class SquaredError(Loss):
    """A custom loss with `value` alone: it takes a stack's predictions one at a time."""

    def check(self, y_pred: Array, y_true: Labels) -> Labels:
        return self.check_pair(y_pred, y_true)

    def value(self, y_pred: Array, y: Labels) -> Scalar:
        self._diff = y_pred - y
        cost = np.sum(self._diff * self._diff) / y.size
        return complex(cost) if np.iscomplexobj(cost) else float(cost)

    def backward(self) -> Array:
        return 2 * self._diff / self._diff.size


def test_the_report_names_the_parts_that_take_probes_one_at_a_time() -> None:
    rng = np.random.default_rng(0)
    model = Sequential([Dense(3, 4, seed=0), Doubled(), Dense(4, 1, seed=1)])
    x, y = rng.standard_normal((6, 3)), rng.standard_normal((6, 1))
    report = check_gradients(model, SquaredError(), x, y, localize=False)
    assert report.passed, str(report)
    first, last = report.rows[0], report.rows[-1]
    assert "but one by one through layer 1 Doubled(), loss SquaredError()" in first.path
    assert last.path.endswith("but one by one through loss SquaredError()")
    assert "probes run one by one through some parts" in str(report) and "0.W (stacked" in str(report)
    quiet = check_gradients(Sequential([Dense(3, 1, seed=0)]), MSELoss(), x, y, localize=False)
    assert "one by one" not in str(quiet)


def test_check_layer_stacks_the_input_probes_of_a_layer_of_independent_samples() -> None:
    x = np.random.default_rng(0).standard_normal((5, 4, 4, 2))
    report = check_layer(MaxPool2D(2), x)
    assert report.passed, str(report)
    assert report.rows[0].path.startswith("stacked") and "one by one" not in report.rows[0].path
    custom = check_layer(Doubled(), x[:, 0, 0])
    assert custom.rows[0].path.endswith("but one by one through Doubled()'s forward")


@pytest.mark.parametrize("bad", [0, -1, 2.5, "4"])
def test_probes_at_once_must_be_a_whole_number_of_at_least_one(bad: object) -> None:
    x, y = np.ones((2, 3)), np.ones((2, 1))
    with pytest.raises(ValueRangeError, match="probes_at_once must be None or a whole number of at least 1"):
        check_gradients(Sequential([Dense(3, 1, seed=0)]), MSELoss(), x, y, probes_at_once=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("cls", [BCEWithLogitsLoss, CrossEntropyLoss], ids=lambda c: c.__name__)
def test_logit_losses_check_stacked(cls: type[Loss]) -> None:
    rng = np.random.default_rng(1)
    classes = 1 if cls is BCEWithLogitsLoss else 3
    model = Sequential([Dense(4, 5, seed=0), ReLU(), Dense(5, classes, seed=1)])
    x = rng.standard_normal((9, 4))
    y = rng.integers(0, 2, (9, 1)).astype(float) if classes == 1 else rng.integers(0, 3, 9)
    report = check_gradients(model, cls(), x, y, localize=False)
    assert report.passed and report.worst_relative_error < 1e-14, str(report)
    assert all(r.path.startswith("stacked") and "one by one" not in r.path for r in report.rows)


class CentredWrongly(Layer):
    """Subtracts the batch mean, so its samples are not independent: it says they are."""

    independent_samples = True

    def forward(self, x: Array) -> Array:
        centred: Array = x - x.mean(axis=0)
        return centred

    def backward(self, grad: Array) -> Array:
        centred: Array = grad - grad.mean(axis=0)
        return centred  # dL/dx = g - mean(g)


def test_a_layer_that_mixes_the_samples_it_calls_independent_is_named() -> None:
    rng = np.random.default_rng(0)
    model = Sequential([Dense(3, 4, seed=0), CentredWrongly(), Dense(4, 1, seed=1)])
    x, y = rng.standard_normal((6, 3)), rng.standard_normal((6, 1))
    with pytest.raises(StackingError, match=r"mixes them, or is not its forward: layer 1 CentredWrongly\(\).*probes_at_once=1"):
        check_gradients(model, MSELoss(), x, y, localize=False)
    alone = check_gradients(model, MSELoss(), x, y, localize=False, probes_at_once=1)
    assert alone.passed, str(alone)  # its backward is right: one probe at a time says so


def shared_graph() -> Model:
    """A Dense called twice (weights shared) after the first one: it must not reuse its output from
    its first call for its second within a stack."""
    x = Input(5)
    shared = Dense(4, 4, seed=1)
    h = ReLU()(Dense(5, 4, seed=0)(x))
    return Model(x, Sigmoid()(Dense(4, 1, seed=2)(Add()([shared(h), shared(ReLU()(shared(h)))]))))


@pytest.mark.parametrize("build", [convnet, graph, shared_graph], ids=["convnet", "graph", "shared"])
def test_stacks_that_reuse_their_arrays_give_the_same_derivatives_to_the_bit(
        build: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """The layers after a moved tensor write each stack into the last stack's arrays (their workspace):
    the same numbers as new arrays a stack."""
    import framework.core.layer
    import framework.gradcheck.resumed as resumed
    monkeypatch.setattr(framework.core.layer, "_REUSED_FROM", 0)  # workspaces for these small arrays too
    rng = np.random.default_rng(1)
    shape = (6, 6, 2) if build is convnet else (5,)
    x, y = rng.standard_normal((7, *shape)), rng.integers(0, 2, (7, 1)).astype(float)
    reused = check_gradients(build(), BCELoss(), x, y, localize=False, probes_at_once=3)  # type: ignore[operator]
    monkeypatch.setattr(resumed, "_reusable", lambda after, calls: [])
    fresh = check_gradients(build(), BCELoss(), x, y, localize=False, probes_at_once=3)  # type: ignore[operator]
    assert reused.passed and fresh.passed
    for a, b in zip(reused.rows, fresh.rows, strict=True):
        assert (a.name, a.worst_numeric, a.max_abs_error) == (b.name, b.worst_numeric, b.max_abs_error)


BY_PARTS = sorted(name for name, cls in LAYERS.items() if name in BUILT_IN and issubclass(cls, Layer)
                  and cls.forward_shared is not Layer.forward_shared)


def test_the_layers_of_dense_networks_run_by_parts() -> None:
    assert {"Dense", "ReLU", "Sigmoid"} <= set(BY_PARTS)


@pytest.mark.parametrize("name", BY_PARTS)
@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), k=st.integers(1, 4))
def test_every_by_parts_forward_is_its_forward_on_the_joined_stack(name: str, seed: int, k: int) -> None:
    """`forward_shared` takes the complex arithmetic of the forward by parts, the real part once for
    all probes: the same numbers as `forward_stack` on the complex stack, to the rounding of a few ulps."""
    rng = np.random.default_rng(seed)
    layer, (x,) = LAYERS[name].example(rng)
    assert isinstance(layer, Layer)
    im = 1e-20 * rng.standard_normal((k, *x.shape))  # the complex step's probes
    expected = layer.forward_stack(SharedReal(x, im).joined())
    got = layer.forward_shared(SharedReal(x, im.copy()))
    assert got is not None
    assert np.array_equal(expected.real, np.broadcast_to(expected.real[0], expected.shape))  # shared, as assumed
    np.testing.assert_allclose(got.re, expected.real[0], rtol=1e-15, atol=0)
    scale = np.abs(expected.imag).max()
    np.testing.assert_allclose(got.im, expected.imag, rtol=1e-14, atol=1e-15 * scale)


def test_a_stack_runs_by_parts_only_where_that_is_exact() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 3))
    assert Sigmoid().forward_shared(SharedReal(x, 1e-3 * rng.standard_normal((2, 5, 3)))) is None  # not small
    dense = Dense(3, 2, seed=0)
    dense.W.value = dense.W.value + 1e-20j  # a moved weight: the probes' real parts would not stay x W + b
    assert dense.forward_shared(SharedReal(x, rng.standard_normal((2, 5, 3)))) is None
    dense.W.value = dense.W.value.real + 0j  # the checker's complex copy of an unmoved one
    assert dense.forward_shared(SharedReal(x, rng.standard_normal((2, 5, 3)))) is not None
    apart = x + 1e-20j * rng.standard_normal((2, 5, 3))
    assert SharedReal.split(apart) is not None
    apart[1, 0, 0] += 1e-9  # a probe off the point
    assert SharedReal.split(apart) is None


class Halved(Layer):
    """A custom layer with a stacked forward of its own but no `forward_shared`: a stack by parts is
    joined before it."""

    independent_samples = True

    def forward(self, x: Array) -> Array:
        return x / 2

    def backward(self, grad: Array) -> Array:
        return grad / 2


class HalvedOffByOnePpb(Halved):
    def backward(self, grad: Array) -> Array:
        return grad / 2 * (1 + 1e-9)  # BUG: a part per billion, which only the complex step sees


class SigmoidByWrongParts(Sigmoid):
    """Its by-parts forward drops the factor 1 - a of the imaginary part: not its forward."""

    def forward_shared(self, z: SharedReal) -> SharedReal | None:
        out = super().forward_shared(z)
        assert out is not None
        np.divide(out.im, 1 - out.re, out=out.im)
        return out


@pytest.mark.parametrize("mode", ["full", "directional"])
def test_a_stack_runs_by_parts_around_a_custom_layer_as_exactly_as_one_probe_at_a_time(mode: str) -> None:
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((9, 4)), rng.integers(0, 2, (9, 1)).astype(float)

    def model(halved: type[Layer] = Halved) -> Sequential:
        return Sequential([Dense(4, 5, seed=0), ReLU(), halved(), Dense(5, 3, seed=1), ReLU(), Dense(3, 1, seed=2),
                           Sigmoid()])

    stacked, alone = (check_gradients(model(), BCELoss(), x, y, mode=mode, localize=False,  # type: ignore[arg-type]
                                      probes_at_once=k) for k in (None, 1))
    for report in (stacked, alone):
        assert report.passed and report.worst_relative_error < 1e-14, str(report)
    assert all(a.path.startswith("stacked") and b.path.startswith("one at a time")
               for a, b in zip(stacked.rows, alone.rows, strict=True))
    wrong = check_gradients(model(HalvedOffByOnePpb), BCELoss(), x, y, mode=mode, localize=False)  # type: ignore[arg-type]
    assert [r.name for r in wrong.rows if not r.passed] == ["0.W", "0.b"], str(wrong)


class SigmoidByPartsOffByOnePpb(Sigmoid):
    """Its by-parts forward is a part per billion off: below central differences, far above rounding."""

    def forward_shared(self, z: SharedReal) -> SharedReal | None:
        out = super().forward_shared(z)
        assert out is not None
        out.im[...] *= 1 + 1e-9
        return out


class SigmoidByPartsOfTheFirstProbe(Sigmoid):
    """Its by-parts forward gives every probe the first one's imaginary part: right for that one only."""

    def forward_shared(self, z: SharedReal) -> SharedReal | None:
        out = super().forward_shared(z)
        assert out is not None
        out.im[1:] = out.im[0]
        return out


@pytest.mark.parametrize("wrong", [SigmoidByWrongParts, SigmoidByPartsOffByOnePpb, SigmoidByPartsOfTheFirstProbe],
                         ids=lambda c: c.__name__)
def test_a_wrong_by_parts_forward_is_named(wrong: type[Sigmoid]) -> None:
    """Not taken for a wrong backward: the backward is right, and one probe at a time says so."""
    rng = np.random.default_rng(0)
    model = Sequential([Dense(3, 4, seed=0), ReLU(), Dense(4, 1, seed=1), wrong()])
    x, y = rng.standard_normal((6, 3)), rng.integers(0, 2, (6, 1)).astype(float)
    with pytest.raises(StackingError, match=rf"derivative came out .* where alone it is .*is not its forward: "
                                            rf"layer 3 {wrong.__name__}\(\).*probes_at_once=1"):
        check_gradients(model, BCELoss(), x, y, localize=False)
    assert check_gradients(model, BCELoss(), x, y, localize=False, probes_at_once=1).passed


class KeepsAMaskASample(Layer):
    """Draws its mask once and reuses it under `replay`, as Dropout does, but runs probes as one batch."""

    independent_samples = True

    def forward(self, x: Array) -> Array:
        if not self.replay or not hasattr(self, "_mask"):
            self._mask = np.random.default_rng(0).random(x.shape) > 0.3
        return x * self._mask

    def backward(self, grad: Array) -> Array:
        return grad * self._mask


def test_a_layer_that_keeps_something_a_sample_is_told_how_probes_ran() -> None:
    rng = np.random.default_rng(0)
    model = Sequential([Dense(5, 4, seed=0), KeepsAMaskASample(), Dense(4, 1, seed=1), Sigmoid()])
    x, y = rng.standard_normal((16, 5)), rng.integers(0, 2, (16, 1)).astype(float)
    with pytest.raises(ShapeError, match=r"KeepsAMaskASample\(\)\.forward: numpy could not broadcast .*\(16,4\); the "
                                         r"gradient checker ran \d+ probes as one batch of \d+ x 16 samples, as "
                                         r"independent_samples = True lets it: .*overrides forward_stack"):
        check_gradients(model, BCELoss(), x, y, localize=False)
