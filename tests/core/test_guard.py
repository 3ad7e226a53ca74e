"""The guard around forward and backward (framework/guard.py): floating-point errors become a
NonFiniteError naming the layer, a backward never runs on the cache of a forward that raised, and a
gradient must have the output's dtype. Also the checker's and fit's refusals of bad points."""

import concurrent.futures
import warnings

import numpy as np
import pytest

from framework import (
    SGD, Add, BCELoss, CallOrderError, Dense, DTypeError, Layer, MSELoss, Multiply, NonFiniteError, Parameter, ReLU,
    Sequential, ShapeError, Sigmoid, Softmax, Tanh, check_gradients, check_layer,
)
from framework.core.arrays import Array
from framework.core.guard import floating_point_errors


def test_inf_minus_inf_in_a_layer_is_a_non_finite_error_naming_it() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy warning on the way
        with pytest.raises(NonFiniteError, match=r"^Softmax\(axis=-1\)\.forward: invalid value encountered in subtract"):
            Softmax().forward(np.array([[np.inf, 1.0]]))


def test_overflow_in_a_merge_names_the_merge_and_the_method() -> None:
    with pytest.raises(NonFiniteError, match=r"^Multiply\(\)\.forward: overflow encountered in multiply"):
        Multiply().forward([np.full((2, 2), 1e200), np.full((2, 2), 1e200)])


def test_inside_a_model_the_innermost_layer_is_named() -> None:
    dense = Dense(2, 2, seed=0)
    model = Sequential([dense, Softmax()])
    dense.W.value[...] = [[10.0, -10.0], [0.0, 0.0]]
    x = np.array([[np.inf, 0.0]])  # x W is (inf, -inf) (no error), then Softmax meets inf - inf
    with pytest.raises(NonFiniteError, match=r"^Softmax\(axis=-1\)\.forward: invalid value"):
        model.forward(x)


def test_a_custom_layer_is_guarded_without_doing_anything() -> None:
    class Square(Layer):
        def forward(self, x: Array) -> Array:
            return x * x

    with pytest.raises(NonFiniteError, match=r"^Square\(\)\.forward: overflow encountered in multiply"):
        Square().forward(np.array([[1e200]]))


def test_underflow_is_not_an_error() -> None:
    np.testing.assert_array_equal(Sigmoid().forward(np.array([[-800.0]])), np.array([[0.0]]))


def test_an_outer_block_sets_the_error_state_once_and_inner_errors_still_name_the_layer() -> None:
    with pytest.raises(NonFiniteError, match=r"^Multiply\(\)\.forward"):
        with floating_point_errors("outer"):
            Multiply().forward([np.full((1, 1), 1e200), np.full((1, 1), 1e200)])
    with pytest.raises(NonFiniteError, match=r"^outer: overflow encountered in multiply"):
        with floating_point_errors("outer"):
            np.full(1, 1e200) * 1e200
    assert np.geterr()["over"] == "warn"  # the state is numpy's default again


def test_checkers_run_in_several_threads_at_once() -> None:
    """check_gradients is one decorated function for every thread: each call enters its own error state
    (a shared one was a ValueError, numpy's context token reset from another thread)."""
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((200, 5)), rng.integers(0, 2, (200, 1)).astype(np.float64)

    def check(seed: int) -> bool:
        model = Sequential([Dense(5, 4, seed=seed), ReLU(), Dense(4, 1, seed=seed + 1), Sigmoid()])
        return all(check_gradients(model, BCELoss(), x, y, localize=False).passed for _ in range(5))

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        assert all(pool.map(check, range(8)))
    assert np.geterr()["over"] == "warn"


@pytest.mark.parametrize("layer", [Dense(3, 2, seed=0), ReLU(), Tanh(), Sigmoid()], ids=repr)
def test_backward_after_a_forward_that_raised_is_refused(layer: Layer) -> None:
    layer.forward(np.ones((2, 3)))
    with pytest.raises((ShapeError, DTypeError)):
        layer.forward(np.ones((2, 3), dtype=np.int64) if not isinstance(layer, Dense) else np.ones((2, 4)))
    with pytest.raises(CallOrderError, match=r"backward\(\) called after a forward\(\) that raised"):
        layer.backward(np.ones((2, 2 if isinstance(layer, Dense) else 3)))


def test_a_loss_refuses_backward_after_a_forward_that_raised() -> None:
    loss = BCELoss()
    loss.forward(np.array([[0.5]]), np.array([[1.0]]))
    with pytest.raises(ShapeError):
        loss.forward(np.array([[0.5]]), np.array([1.0]))
    with pytest.raises(CallOrderError, match="after a forward"):
        loss.backward()


@pytest.mark.parametrize(
    ("dtype", "got"), [(np.complex128, "complex128"), (np.float32, "float32"), (np.int64, "int64")]
)
def test_a_gradient_of_another_dtype_than_the_output_is_refused(dtype: type, got: str) -> None:
    for layer in (Dense(3, 2, seed=0), Tanh()):
        out = layer.forward(np.ones((2, 3)))
        with pytest.raises(DTypeError, match=rf"expected a gradient of the output's dtype float64, got {got}"):
            layer.backward(np.ones(out.shape, dtype=dtype))


def test_a_list_as_gradient_is_refused() -> None:
    layer = ReLU()
    layer.forward(np.ones((1, 2)))
    with pytest.raises(DTypeError, match="got list"):
        layer.backward([[1.0, 1.0]])  # type: ignore[arg-type]


def test_training_that_overflows_inside_a_layer_stops_naming_epoch_batch_and_layer() -> None:
    dense = Dense(2, 2, seed=0)
    model = Sequential([dense, Softmax(), Dense(2, 1, seed=1)])
    dense.W.value[...] = [[10.0, -10.0], [0.0, 0.0]]
    model.compile(loss=MSELoss(), optimizer=SGD(lr=0.1))
    x = np.array([[1.0, 1.0], [1e308, 0.0]])  # finite, but x W overflows
    with pytest.raises(NonFiniteError, match=r"^fit: training diverged at epoch 1, batch 2: Dense\(2 -> 2\)\.forward: overflow"):
        model.fit(x, np.zeros((2, 1)), batch_size=1, shuffle=False, verbose=0)


def test_check_layer_refuses_a_nan_point_instead_of_passing() -> None:
    x = np.ones((2, 3))
    x[1, 2] = np.nan
    with pytest.raises(NonFiniteError, match=r"x has 1 NaN and 0 inf entries, the first at \(1, 2\).*finite point"):
        check_layer(Dense(3, 2, seed=0), x)
    layer = Dense(3, 2, seed=0)
    layer.W.value[0, 1] = np.inf
    with pytest.raises(NonFiniteError, match=r"W has 0 NaN and 1 inf entries, the first at \(0, 1\)"):
        check_layer(layer, np.ones((2, 3)))


def test_checkers_refuse_complex_and_0d_points() -> None:
    with pytest.raises(DTypeError, match=r"x must be a real float array, got complex128"):
        check_layer(ReLU(), np.ones((2, 3), dtype=complex))
    with pytest.raises(ShapeError, match="needs a batch axis"):
        check_layer(Add(), [np.array(1.0), np.array(2.0)])
    model = Sequential([Dense(3, 1, seed=0), Sigmoid()])
    with pytest.raises(NonFiniteError, match=r"y has 1 NaN"):
        check_gradients(model, BCELoss(), np.ones((2, 3)), np.array([[np.nan], [1.0]]))


def test_predict_refuses_an_empty_list_and_fit_hints_at_transposed_labels() -> None:
    model = Sequential([Dense(3, 1, seed=0), Sigmoid()])
    with pytest.raises(ShapeError, match="x is an empty list"):
        model.predict([])
    model.compile(loss=BCELoss(), optimizer=SGD(lr=0.1))
    with pytest.raises(ShapeError, match=r"y has shape \(1, 5\): did you pass y features-first\? transpose it"):
        model.fit(np.ones((5, 3)), np.ones((1, 5)), verbose=0)
    with pytest.raises(ShapeError, match=r"y has shape \(1, 5\): did you pass y features-first\? transpose it"):
        model.fit(np.ones((5, 1)), np.ones((1, 5)), verbose=0)  # x's one feature matches y's one row: y alone is wrong
    with pytest.raises(ShapeError, match=r"x has 3 samples but y has shape \(1, 5\): did you pass features-first data\? "
                                         r"transpose both x and y"):
        model.fit(np.ones((3, 5)), np.ones((1, 5)), verbose=0)
    with pytest.raises(ShapeError, match=r"x has 3 samples but y has shape \(5, 1\): did you pass x features-first\? "
                                         r"transpose it"):
        model.fit(np.ones((3, 5)), np.ones((5, 1)), verbose=0)  # the 5 samples along x's last axis: x alone is wrong
    history = model.fit(np.ones((2, 3)), [[1.0], [0.0]], verbose=0)  # type: ignore[list-item]  # a list is converted
    assert len(history.history["loss"]) == 1


class _ChannelScale(Layer):
    """x · s per channel, whose backward sums dL/ds over the wrong axes (the batch's, not the pixels')."""

    def __init__(self) -> None:
        super().__init__()
        self.s = Parameter(np.ones(3), name="s")

    def forward(self, x: Array) -> Array:
        self._x = x
        return x * self.s.value

    def backward(self, grad: Array) -> Array:
        self.s.grad[...] = (grad * self._x).sum(axis=(1, 2, 3))
        return grad * self.s.value


def test_numpy_broadcast_errors_name_the_layer_as_shape_errors() -> None:
    layer = _ChannelScale()
    layer.forward(np.ones((5, 4, 4, 3)))
    with pytest.raises(ShapeError, match=r"^_ChannelScale\(\).backward: numpy could not broadcast the arrays: could "
                                         r"not broadcast input array from shape \(5,\) into shape \(3,\): a gradient "
                                         r"summed over the wrong axes\?"):
        layer.backward(np.ones((5, 4, 4, 3)))
    with pytest.raises(ShapeError, match=r"_ChannelScale\(\).forward: numpy could not broadcast the arrays: operands "
                                         r"could not be broadcast together with shapes \(2,4\) \(3,\)"):
        layer.forward(np.ones((2, 4)))


class _Product(Layer):
    """x W, with W of 4 rows whatever x's width."""

    def __init__(self) -> None:
        super().__init__()
        self.W = Parameter(np.ones((4, 2)), name="W")

    def forward(self, x: Array) -> Array:
        return x @ self.W.value

    def backward(self, grad: Array) -> Array:
        return grad @ self.W.value.T


def test_a_matrix_product_of_mismatched_sizes_names_the_layer_as_a_shape_error() -> None:
    with pytest.raises(ShapeError, match=r"^_Product\(\).forward: numpy could not multiply the matrices: matmul: .*"
                                         r"\(size 4 is different from 5\)$"):
        check_layer(_Product(), np.ones((3, 5)))
