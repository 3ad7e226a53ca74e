"""The training loop: fit's batching and seeded shuffling, the validation split, epoch losses and
metrics against independent numpy computations, evaluate, predict, and the errors of bad data and
of a diverging run."""

import io
import math
import re
from collections.abc import Sequence
from typing import cast

import numpy as np
import numpy.typing as npt
import pytest

from framework import (
    SGD, Adam, BatchNorm, BCELoss, BCEWithLogitsLoss, CallOrderError, Callback, ConfigError, Conv2D, Dense, DTypeError,
    Flatten,
    FrameworkError, Input, Layer, Model, NonFiniteError, Parameter, ReLU, Sequential, ShapeError, Sigmoid,
    TerminateOnNaN, ValueRangeError,
)
from framework.core.arrays import Array

Floats = npt.NDArray[np.float64]

TINY_LR = 1e-300
"""SGD refuses lr=0. A step of 1e-300 * grad leaves every weight of order 1 exactly as it was (and
moves a zero bias by ~1e-300), so the model is frozen: its outputs during fit are those of predict."""


class BatchRecorder(Layer):
    """The identity, keeping a copy of every input it sees."""

    def __init__(self) -> None:
        super().__init__()
        self.inputs: list[Array] = []

    def forward(self, x: Array) -> Array:
        self.inputs.append(x.copy())
        return x

    def backward(self, grad: Array) -> Array:
        return grad


class CountingSGD(SGD):
    def __init__(self, lr: float) -> None:
        super().__init__(lr)
        self.steps = 0

    def step(self, params: Sequence[Parameter]) -> None:
        self.steps += 1
        super().step(params)


class BatchLosses(Callback):
    """The loss of every batch, one list per epoch."""

    def __init__(self) -> None:
        self.losses: list[list[float]] = []

    def on_epoch_begin(self, epoch: int) -> None:
        self.losses.append([])

    def on_batch_end(self, batch: int, loss: float) -> None:
        self.losses[-1].append(loss)


class PoisonWeights(Callback):
    """Set every weight to NaN after batch `batch` of epoch `epoch` (0-based), so that the next
    batch's loss is not finite."""

    def __init__(self, epoch: int, batch: int) -> None:
        self.at, self.epoch = (epoch, batch), -1

    def on_epoch_begin(self, epoch: int) -> None:
        self.epoch = epoch

    def on_batch_end(self, batch: int, loss: float) -> None:
        if (self.epoch, batch) == self.at:
            for p in self.model.parameters():
                p.value[...] = np.nan


def bce(a: Array, y: Array) -> float:
    """Binary cross-entropy written out: -mean(y log a + (1 - y) log(1 - a))."""
    return float(-np.mean(y * np.log(a) + (1 - y) * np.log(1 - a)))


def pair_auc(y: Array, p: Array) -> float:
    """AUC by counting (positive, negative) pairs ranked right, ties 1/2."""
    pos, neg = p[y > 0.5], p[y <= 0.5]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(wins / (pos.size * neg.size))


def data(m: int, features: int = 3, seed: int = 0) -> tuple[Floats, Floats]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((m, features))
    y = (x[:, :1] + 0.5 * rng.standard_normal((m, 1)) > 0).astype(np.float64)
    return x, y


def small_model(features: int = 3) -> Sequential:
    return Sequential([Dense(features, 4, seed=0), ReLU(), Dense(4, 1, seed=1), Sigmoid()])


def recorded_model(features: int = 3) -> tuple[Sequential, BatchRecorder]:
    recorder = BatchRecorder()
    return Sequential([recorder, Dense(features, 1, seed=0), Sigmoid()]), recorder


def with_ids(m: int, seed: int = 0) -> tuple[Floats, Floats]:
    """Data whose column 0 is the sample's index, so that a recorded batch says which samples it held."""
    x, y = data(m, seed=seed)
    x[:, 0] = np.arange(m)
    return x, y


# Batching


@pytest.mark.parametrize(
    ("m", "batch_size", "sizes"),
    [(10, 4, [4, 4, 2]), (12, 4, [4, 4, 4]), (3, 5, [3]), (4, 1, [1, 1, 1, 1]), (7, 6, [6, 1])],
)
def test_fit_takes_one_step_per_batch_and_uses_the_last_partial_batch(m: int, batch_size: int, sizes: list[int]) -> None:
    x, y = with_ids(m)
    model, recorder = recorded_model()
    optimizer = CountingSGD(lr=0.1)
    model.compile(loss=BCELoss(), optimizer=optimizer)
    model.fit(x, y, epochs=2, batch_size=batch_size, verbose=0, seed=0)
    assert optimizer.steps == 2 * math.ceil(m / batch_size)
    assert [b.shape[0] for b in recorder.inputs] == sizes * 2
    for epoch in range(2):
        batches = recorder.inputs[epoch * len(sizes) : (epoch + 1) * len(sizes)]
        seen = np.concatenate(batches)[:, 0]
        assert sorted(seen.tolist()) == list(range(m))  # every sample exactly once an epoch


def test_shuffle_false_keeps_the_order_of_the_samples() -> None:
    x, y = with_ids(10)
    model, recorder = recorded_model()
    model.compile(loss=BCELoss(), optimizer=SGD(lr=0.1))
    model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    order = np.concatenate(recorder.inputs)[:, 0]
    assert order.tolist() == list(range(10)) * 2
    assert np.array_equal(np.concatenate(recorder.inputs)[:10], x)


def test_shuffling_draws_a_new_order_every_epoch() -> None:
    x, y = with_ids(10)
    model, recorder = recorded_model()
    model.compile(loss=BCELoss(), optimizer=SGD(lr=0.1))
    model.fit(x, y, epochs=2, batch_size=4, verbose=0, seed=0)
    first, second = np.concatenate(recorder.inputs[:3])[:, 0], np.concatenate(recorder.inputs[3:])[:, 0]
    assert sorted(first.tolist()) == sorted(second.tolist()) == list(range(10))
    assert first.tolist() != list(range(10))
    assert first.tolist() != second.tolist()


def train_with_seed(seed: int) -> tuple[list[Array], list[float]]:
    x, y = data(40)
    model = small_model()
    model.compile(loss=BCELoss(), optimizer=Adam(lr=0.05), metrics=["accuracy"])
    history = model.fit(x, y, epochs=3, batch_size=8, verbose=0, seed=seed)
    return model.get_weights(), history.history["loss"]


def test_the_same_seed_gives_the_same_weights_bit_for_bit_and_another_seed_does_not() -> None:
    weights, losses = train_with_seed(7)
    again, losses_again = train_with_seed(7)
    other, _ = train_with_seed(8)
    assert all(np.array_equal(a, b) for a, b in zip(weights, again, strict=True))
    assert losses == losses_again
    assert not all(np.array_equal(a, b) for a, b in zip(weights, other, strict=True))


class MinTwo(BatchRecorder):
    """A recorder that, like BatchNorm, trains only on batches of two samples or more."""

    min_training_batch = 2


def test_a_last_batch_of_one_is_merged_into_the_one_before_for_batchnorm() -> None:
    x, y = with_ids(209)
    recorder = MinTwo()
    model = Sequential([recorder, Dense(3, 4, seed=0), BatchNorm(4), ReLU(), Dense(4, 1, seed=1), Sigmoid()])
    model.compile(loss=BCELoss(), optimizer=SGD(lr=0.1))
    history = model.fit(x, y, epochs=2, batch_size=16, verbose=0, seed=0)  # 209 = 13 x 16 + 1
    assert [b.shape[0] for b in recorder.inputs] == ([16] * 12 + [17]) * 2
    assert sorted(np.concatenate(recorder.inputs[:13])[:, 0].tolist()) == list(range(209))
    assert all(math.isfinite(loss) for loss in history.history["loss"])


def test_drop_remainder_drops_the_last_partial_batch() -> None:
    x, y = with_ids(10)
    model, recorder = recorded_model()
    optimizer = CountingSGD(lr=0.1)
    model.compile(loss=BCELoss(), optimizer=optimizer, metrics=["accuracy"])
    history = model.fit(x, y, epochs=2, batch_size=4, verbose=0, seed=0, drop_remainder=True)
    assert optimizer.steps == 4 and [b.shape[0] for b in recorder.inputs] == [4, 4, 4, 4]
    assert len(history.history["accuracy"]) == 2


def test_drop_remainder_that_leaves_no_batch_is_refused() -> None:
    x, y = data(10)
    model = small_model()
    model.compile(loss=BCELoss(), optimizer=SGD(lr=0.1))
    with pytest.raises(ValueRangeError, match=re.escape("fit: drop_remainder=True with batch_size=16 leaves no batch of the 10 samples")):
        model.fit(x, y, batch_size=16, drop_remainder=True, verbose=0)


def test_labels_of_a_shape_the_loss_refuses_are_named_with_their_whole_shape() -> None:
    x, y = data(50)
    model = small_model()
    model.compile(loss=BCELoss(), optimizer=SGD(lr=0.1))
    with pytest.raises(ShapeError, match=re.escape(
        "fit: y has shape (50,) for outputs of shape (m, 1): BCELoss(): y_pred has shape (32, 1) but y_true has shape "
        "(32,): reshape the labels with y.reshape(-1, 1)"
    )):
        model.fit(x, y.ravel(), verbose=0)


def test_a_model_whose_parameters_mix_dtypes_is_named_at_fit() -> None:
    x, y = data(8)
    model = small_model()
    model.layers[0].W.value = model.layers[0].W.value.astype(np.float32)  # type: ignore[attr-defined]
    model.compile(loss=BCELoss(), optimizer=SGD(lr=0.1))
    with pytest.raises(DTypeError, match=re.escape(
        "fit: the model's parameters mix dtypes (0.W is float32, 0.b is float64): a model computes in one dtype"
    )):
        model.fit(x, y, verbose=0)


def test_float64_data_is_cast_to_a_float32_models_dtype_and_back() -> None:
    x, y = data(12)
    model = Sequential([Dense(3, 1, seed=0, dtype=np.float32), Sigmoid()])
    model.compile(loss=BCELoss(), optimizer=SGD(lr=0.1))
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    assert x.dtype == np.float64  # the user's array is not touched
    assert model.predict(x).dtype == np.float32
    assert np.array_equal(model.predict(x), model.predict(x.astype(np.float32)))
    assert set(model.evaluate(x, y)) == {"loss"}
    wide = Sequential([Dense(3, 1, seed=0), Sigmoid()])
    assert np.array_equal(wide.predict(x.astype(np.float32)), wide.predict(x.astype(np.float32).astype(np.float64)))


class Frame:
    """What fit sees of a pandas DataFrame: an object that numpy converts with np.asarray."""

    def __init__(self, values: Floats) -> None:
        self.values = values

    def __array__(self, dtype: object = None, copy: object = None) -> Floats:
        return self.values


def test_anything_numpy_converts_to_numbers_is_taken_as_x() -> None:
    x, y = data(12)
    model = small_model()
    model.compile(loss=BCELoss(), optimizer=SGD(lr=0.1))
    model.fit(cast(Array, Frame(x)), y, epochs=1, batch_size=4, verbose=0)
    assert np.array_equal(model.predict(cast(Array, Frame(x))), model.predict(x))


def test_callbacks_must_be_a_list_of_callbacks() -> None:
    x, y = data(8)
    model = small_model()
    model.compile(loss=BCELoss(), optimizer=SGD(lr=0.1))
    with pytest.raises(ConfigError, match=re.escape(
        "fit: callbacks must be a list of callbacks, got a TerminateOnNaN: callbacks=[TerminateOnNaN(...)]"
    )):
        model.fit(x, y, callbacks=TerminateOnNaN(), verbose=0)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"fit: callbacks\[1\] must be a Callback, got the class TerminateOnNaN"):
        model.fit(x, y, callbacks=[TerminateOnNaN(), TerminateOnNaN], verbose=0)  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("x_val", "y_val", "message"),
    [
        (np.ones((4, 5)), np.ones((4, 1)), r"fit\(validation_data\): x_val has shape \(4, 5\), but the training x has "
                                           r"samples of shape \(3,\)"),
        (np.ones((4, 3)), np.ones((4, 2)), r"fit\(validation_data\): y_val has shape \(4, 2\), but the training y has "
                                           r"labels of shape \(1,\)"),
        (np.ones((4, 3)), np.ones(4), r"fit\(validation_data\): y_val has shape \(4,\) for outputs of shape \(m, 1\): "
                                      r"BCELoss\(\): y_pred has shape \(4, 1\) but y_true has shape \(4,\)"),
        (np.ones((4, 3)), np.full((4, 1), 2.0), r"fit\(validation_data\): y_val: BCELoss\(\): labels must lie in \[0, 1\], "
                                                r"got values from 2.0 to 2.0"),
    ],
)
def test_bad_validation_data_is_refused_before_the_first_epoch(x_val: Floats, y_val: Floats, message: str) -> None:
    x, y = data(8)
    model, recorder = recorded_model()
    model.compile(loss=BCELoss(), optimizer=SGD(lr=0.1))
    with pytest.raises(FrameworkError, match=message):
        model.fit(x, y, validation_data=(x_val, y_val), batch_size=4, verbose=0)
    assert len(recorder.inputs) <= 1  # found before the second batch


# Validation


def test_validation_split_is_stratified_and_held_out_of_training() -> None:
    m = 40
    x, _ = with_ids(m)
    y = np.zeros((m, 1))
    y[::5] = 1.0  # 8 positives, 32 negatives: 20%
    model, recorder = recorded_model()
    model.compile(loss=BCELoss(), optimizer=SGD(lr=TINY_LR), metrics=["accuracy"])
    history = model.fit(x, y, epochs=2, batch_size=64, validation_split=0.25, verbose=0, seed=0)
    # Each epoch: one training batch of the 30 kept samples, then one forward of the 10 held out.
    train_0, val_0, train_1, val_1 = recorder.inputs
    assert (train_0.shape[0], val_0.shape[0]) == (30, 10)
    train_ids, val_ids = train_0[:, 0].astype(int), val_0[:, 0].astype(int)
    assert set(train_ids) | set(val_ids) == set(range(m)) and not set(train_ids) & set(val_ids)
    assert y[val_ids].sum() == 2 and y[train_ids].sum() == 6  # 20% positives on both sides
    assert set(train_1[:, 0].astype(int)) == set(train_ids) and np.array_equal(val_1, val_0)  # split once
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert history.history["val_loss"][0] == pytest.approx(bce(model.predict(x[val_ids]), y[val_ids]), rel=1e-12)


def test_validation_data_gives_val_keys_with_one_value_per_epoch() -> None:
    x, y = data(40)
    x_val, y_val = data(12, seed=1)
    model = small_model()
    model.compile(loss=BCELoss(), optimizer=Adam(lr=0.05), metrics=["accuracy", "auc"])
    history = model.fit(x, y, epochs=4, batch_size=8, validation_data=(x_val, y_val), verbose=0, seed=0)
    assert set(history.history) == {"loss", "accuracy", "auc", "val_loss", "val_accuracy", "val_auc"}
    assert all(len(values) == 4 for values in history.history.values())
    assert history.epoch == [0, 1, 2, 3]
    assert len(set(history.history["val_loss"])) == 4  # trained between epochs: four different values
    final = model.evaluate(x_val, y_val, batch_size=8)
    assert history.history["val_loss"][-1] == final["loss"]
    assert history.history["val_auc"][-1] == final["auc"]


def test_validation_data_of_mismatched_lengths_is_a_shape_error() -> None:
    x, y = data(10)
    model = small_model()
    model.compile(loss=BCELoss(), optimizer=SGD(lr=0.1))
    with pytest.raises(ShapeError, match=r"fit\(validation_data\): x has 4 samples but y has shape \(3, 1\)"):
        model.fit(x, y, validation_data=(x[:4], y[:3]), verbose=0)


@pytest.mark.parametrize("fraction", [0.0001, 1.0, 1.5])
def test_a_validation_split_that_leaves_a_side_empty_is_refused(fraction: float) -> None:
    x, y = data(10)
    model = small_model()
    model.compile(loss=BCELoss(), optimizer=SGD(lr=0.1))
    with pytest.raises(ValueRangeError, match="validation_split"):
        model.fit(x, y, validation_split=fraction, verbose=0)


# The epoch's loss and metrics


def test_the_epoch_loss_is_the_sample_weighted_mean_of_the_batch_losses() -> None:
    x, y = data(10, seed=3)
    model = small_model()
    before = model.predict(x)
    model.compile(loss=BCELoss(), optimizer=SGD(lr=TINY_LR))
    losses = BatchLosses()
    history = model.fit(x, y, epochs=1, batch_size=4, shuffle=False, callbacks=[losses], verbose=0)
    batches = [slice(0, 4), slice(4, 8), slice(8, 10)]
    expected = [bce(before[b], y[b]) for b in batches]
    assert losses.losses[0] == pytest.approx(expected, rel=1e-12)
    weighted = (4 * expected[0] + 4 * expected[1] + 2 * expected[2]) / 10
    assert history.history["loss"][0] == pytest.approx(weighted, rel=1e-12)
    assert history.history["loss"][0] == pytest.approx(bce(before, y), rel=1e-12)
    assert abs(weighted - np.mean(expected)) > 1e-3  # the plain mean of the batches would be caught


def test_the_epoch_loss_weights_batches_by_size_while_the_model_trains() -> None:
    x, y = data(10, seed=3)
    model = small_model()
    model.compile(loss=BCELoss(), optimizer=Adam(lr=0.1))
    losses = BatchLosses()
    history = model.fit(x, y, epochs=3, batch_size=4, callbacks=[losses], verbose=0, seed=0)
    for epoch, batch_losses in enumerate(losses.losses):
        assert history.history["loss"][epoch] == pytest.approx(np.dot([4, 4, 2], batch_losses) / 10, rel=1e-12)


def test_metrics_are_computed_over_the_whole_epoch() -> None:
    x, y = data(10, seed=3)
    model = small_model()
    p = model.predict(x)
    model.compile(loss=BCELoss(), optimizer=SGD(lr=TINY_LR), metrics=["accuracy", "auc"])
    history = model.fit(x, y, epochs=1, batch_size=4, shuffle=False, verbose=0)
    accuracy = float(np.mean((p > 0.5) == (y > 0.5)))
    assert history.history["accuracy"][0] == pytest.approx(accuracy, rel=1e-15)
    assert history.history["auc"][0] == pytest.approx(pair_auc(y, p), rel=1e-12)
    batches = [slice(0, 4), slice(4, 8), slice(8, 10)]
    batch_mean = np.mean([np.mean((p[b] > 0.5) == (y[b] > 0.5)) for b in batches])
    assert abs(batch_mean - accuracy) > 1e-3  # an average of batch accuracies would be caught


def test_evaluate_returns_the_loss_and_the_metrics_of_the_whole_set() -> None:
    x, y = data(30, seed=4)
    model = small_model()
    model.compile(loss=BCELoss(), optimizer=SGD(lr=0.1), metrics=["accuracy", "auc"])
    p = model.predict(x)
    results = model.evaluate(x, y)
    assert set(results) == {"loss", "accuracy", "auc"}
    assert results["loss"] == pytest.approx(bce(p, y), rel=1e-12)
    assert results["accuracy"] == pytest.approx(float(np.mean((p > 0.5) == (y > 0.5))), rel=1e-15)
    assert results["auc"] == pytest.approx(pair_auc(y, p), rel=1e-12)
    assert model.evaluate(x, y, batch_size=7)["loss"] == pytest.approx(results["loss"], rel=1e-12)


# predict


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_predict_in_batches_equals_predict_at_once_bit_for_bit(dtype: type[np.floating]) -> None:
    # Weights and inputs are multiples of 1/8 and 1/4: every sum in x @ W is exact, so the result
    # cannot depend on which BLAS kernel a batch size picks, only on how predict stitches batches.
    model = Sequential([Dense(5, 4, seed=0, dtype=dtype), ReLU(), Dense(4, 1, seed=1, dtype=dtype), Sigmoid()])
    model.set_weights([(np.round(w * 8) / 8).astype(dtype) for w in model.get_weights()])
    x = (np.random.default_rng(0).integers(-4, 5, (103, 5)) / 4).astype(dtype)
    whole = model.predict(x)
    assert whole.dtype == dtype and whole.shape == (103, 1)
    assert len(np.unique(whole)) > 50
    for batch_size in (1, 2, 7, 10, 102, 103, 500):
        assert np.array_equal(model.predict(x, batch_size=batch_size), whole), batch_size


def test_predict_in_batches_agrees_on_random_data() -> None:
    # On arbitrary floats, OpenBLAS sums a one-row product (gemv) in another order than a
    # many-row one (gemm): the last bit may differ, so this comparison has a tolerance.
    x, _ = data(103, features=64)
    model = Sequential([Dense(64, 4, seed=0), ReLU(), Dense(4, 1, seed=1), Sigmoid()])
    whole = model.predict(x)
    for batch_size in (1, 10, 64):
        np.testing.assert_allclose(model.predict(x, batch_size=batch_size), whole, rtol=1e-13, atol=0)


@pytest.mark.parametrize("batch_size", [0, -2])
def test_predict_refuses_a_batch_size_below_one(batch_size: int) -> None:
    x, _ = data(5)
    model = small_model()
    with pytest.raises(ValueRangeError, match="batch_size"):
        model.predict(x, batch_size=batch_size)


# Errors of bad calls and bad data


def test_fit_and_evaluate_before_compile_are_call_order_errors() -> None:
    x, y = data(10)
    model = small_model()
    with pytest.raises(CallOrderError, match=r"fit: call model.compile\(loss=..., optimizer=...\) first"):
        model.fit(x, y, verbose=0)
    with pytest.raises(CallOrderError, match=r"evaluate: call model.compile"):
        model.evaluate(x, y)
    assert model.predict(x).shape == (10, 1)  # predict needs no loss


@pytest.mark.parametrize("label_dtype", [np.int64, np.int32, np.bool_])
def test_integer_and_boolean_labels_train_exactly_as_float_labels(label_dtype: type[np.generic]) -> None:
    x, y = data(20)
    histories, weights = [], []
    for labels in (y, y.astype(label_dtype)):
        model = small_model()
        model.compile(loss=BCELoss(), optimizer=Adam(lr=0.05), metrics=["accuracy"])
        histories.append(model.fit(x, labels, epochs=2, batch_size=8, verbose=0, seed=0).history)
        weights.append(model.get_weights())
    assert histories[0] == histories[1]
    assert all(np.array_equal(a, b) for a, b in zip(*weights, strict=True))


def test_integer_inputs_are_converted_to_the_models_dtype() -> None:
    ints = np.random.default_rng(0).integers(-3, 4, (12, 3))
    x, y = cast(Array, ints), cast(Array, (ints[:, :1] > 0).astype(np.int64))  # fit's signature says floats
    model = Sequential([Dense(3, 1, seed=0, dtype=np.float32), Sigmoid()])
    model.compile(loss=BCELoss(), optimizer=SGD(lr=0.1))
    history = model.fit(x, y, epochs=2, batch_size=4, verbose=0, seed=0)
    assert len(history.history["loss"]) == 2
    assert model.predict(x).dtype == np.float32
    assert np.array_equal(model.predict(x), model.predict(ints.astype(np.float32)))


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("x_nan", r"fit: x has 1 NaN and 0 inf entries, the first at \(3, 1\)"),
        ("x_inf", r"fit: x has 0 NaN and 1 inf entries, the first at \(3, 1\)"),
        ("y_nan", r"fit: y has 1 NaN and 0 inf entries, the first at \(5, 0\)"),
    ],
)
def test_non_finite_data_is_refused_before_training(bad: str, message: str) -> None:
    x, y = data(10)
    if bad == "x_nan":
        x[3, 1] = np.nan
    elif bad == "x_inf":
        x[3, 1] = np.inf
    else:
        y[5, 0] = np.nan
    model = small_model()
    model.compile(loss=BCELoss(), optimizer=SGD(lr=0.1))
    before = model.get_weights()
    with pytest.raises(NonFiniteError, match=message):
        model.fit(x, y, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))


def test_labels_outside_0_1_are_refused_before_training_and_the_loss_checks_them_again_after() -> None:
    x, y = data(10)
    y[4, 0] = 2.0
    model = small_model()
    loss = BCELoss()
    model.compile(loss=loss, optimizer=SGD(lr=0.1))
    before = model.get_weights()
    with pytest.raises(ValueRangeError, match=r"BCELoss\(\): labels must lie in \[0, 1\], got values from 0.0 to 2.0"):
        model.fit(x, y, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    model.fit(x, np.clip(y, 0, 1), epochs=2, batch_size=4, verbose=0)  # skips each batch's scan
    assert not loss.labels_checked
    with pytest.raises(ValueRangeError, match="labels must lie in"):  # a direct call still scans
        loss.forward(model.predict(x), y)


def test_a_run_that_raises_leaves_the_loss_checking_its_labels() -> None:
    x, y = data(40)
    model = small_model()
    loss = BCELoss()
    model.compile(loss=loss, optimizer=SGD(lr=0.1))
    with pytest.raises(NonFiniteError):
        model.fit(x, y, epochs=5, batch_size=8, callbacks=[PoisonWeights(epoch=1, batch=1)], verbose=0, seed=0)
    assert not loss.labels_checked


def test_mismatched_sample_counts_are_a_shape_error() -> None:
    x, y = data(10)
    model = small_model()
    model.compile(loss=BCELoss(), optimizer=SGD(lr=0.1))
    with pytest.raises(ShapeError, match=r"fit: x has 10 samples but y has shape \(9, 1\)"):
        model.fit(x, y[:9], verbose=0)
    with pytest.raises(ShapeError, match=r"evaluate: x has 10 samples but y has shape \(11, 1\)"):
        model.evaluate(x, np.vstack([y, y[:1]]))


@pytest.mark.parametrize(("epochs", "batch_size"), [(0, 4), (2, 0)])
def test_epochs_and_batch_size_below_one_are_refused(epochs: int, batch_size: int) -> None:
    x, y = data(10)
    model = small_model()
    model.compile(loss=BCELoss(), optimizer=SGD(lr=0.1))
    with pytest.raises(ValueRangeError, match=f"got {epochs} and {batch_size}"):
        model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0)


# Divergence


def test_a_diverging_run_raises_naming_the_epoch_and_the_batch() -> None:
    x, y = data(40)
    model = small_model()
    model.compile(loss=BCELoss(), optimizer=SGD(lr=0.1))
    with pytest.raises(NonFiniteError, match=r"training diverged at epoch 2, batch 3: .*TerminateOnNaN"):
        model.fit(x, y, epochs=5, batch_size=8, callbacks=[PoisonWeights(epoch=1, batch=1)], verbose=0, seed=0)


def poison(params: list[Parameter]) -> None:
    """NaN into each parameter's own array (set_weights refuses NaN)."""
    for p in params:
        p.value[...] = np.nan


def test_a_model_with_nan_weights_fails_on_the_first_batch() -> None:
    x, y = data(10)
    model = small_model()
    poison(model.parameters())
    model.compile(loss=BCELoss(), optimizer=SGD(lr=0.1))
    with pytest.raises(NonFiniteError, match=r"diverged at epoch 1, batch 1"):
        model.fit(x, y, epochs=3, batch_size=4, verbose=0)


def test_terminate_on_nan_stops_training_and_names_the_epoch_and_the_batch() -> None:
    x, y = data(40)
    model = small_model()
    model.compile(loss=BCELoss(), optimizer=SGD(lr=0.1), metrics=["accuracy"])
    stream = io.StringIO()
    stopper, losses = TerminateOnNaN(stream=stream), BatchLosses()
    history = model.fit(x, y, epochs=5, batch_size=8, callbacks=[PoisonWeights(epoch=1, batch=1), losses, stopper],
                        verbose=0, seed=0)
    expected = "TerminateOnNaN: loss is nan at epoch 2, batch 3: training stopped"
    assert stopper.message == expected
    assert stream.getvalue() == expected + "\n"
    assert history.epoch == [0, 1]
    assert [len(epoch) for epoch in losses.losses] == [5, 3]
    assert math.isnan(losses.losses[1][2])
    # The stopped epoch's loss is the mean over the two batches that were finite.
    assert history.history["loss"][1] == pytest.approx(np.mean(losses.losses[1][:2]), rel=1e-12)


def test_terminate_on_nan_writes_to_stderr_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    x, y = data(10)
    model = small_model()
    poison(model.parameters())
    model.compile(loss=BCELoss(), optimizer=SGD(lr=0.1))
    history = model.fit(x, y, epochs=3, batch_size=4, callbacks=[TerminateOnNaN()], verbose=0)
    assert capsys.readouterr().err == "TerminateOnNaN: loss is nan at epoch 1, batch 1: training stopped\n"
    assert history.epoch == [0]
    assert math.isnan(history.history["loss"][0])  # no batch was finite


def test_terminate_on_nan_stops_training_with_validation_data() -> None:
    x, y = data(40)
    model = small_model()
    model.compile(loss=BCELoss(), optimizer=SGD(lr=0.1))
    stopper = TerminateOnNaN(stream=io.StringIO())
    history = model.fit(x, y, epochs=5, batch_size=8, validation_data=(x[:8], y[:8]),
                        callbacks=[PoisonWeights(epoch=1, batch=1), stopper], verbose=0, seed=0)
    assert stopper.message == "TerminateOnNaN: loss is nan at epoch 2, batch 3: training stopped"
    assert history.epoch == [0, 1]


# Weights


def test_get_weights_returns_copies_and_set_weights_checks_count_and_shapes() -> None:
    model = small_model()
    weights = model.get_weights()
    assert [w.shape for w in weights] == [(3, 4), (4,), (4, 1), (1,)]
    weights[0][...] = 5.0
    assert not np.any(model.get_weights()[0] == 5.0)
    model.set_weights(weights)
    assert np.all(model.get_weights()[0] == 5.0)
    with pytest.raises(ShapeError, match=r"the model has 4 weights \(parameters, then buffers\), got 3 arrays"):
        model.set_weights(weights[:3])
    with pytest.raises(ShapeError, match=r"2.W has shape \(4, 1\), got \(1, 4\)"):
        model.set_weights([weights[0], weights[1], weights[2].T, weights[3]])


def test_nan_weights_in_a_hidden_layer_are_reported() -> None:
    x, y = data(10)
    model = small_model()
    poison(model.parameters()[:1])
    model.compile(loss=BCELoss(), optimizer=SGD(lr=0.1))
    with pytest.raises(NonFiniteError, match=r"diverged at epoch 1, batch 1"):
        model.fit(x, y, epochs=3, batch_size=4, verbose=0)


@pytest.mark.parametrize(
    ("compile_args", "message"),
    [
        ({"loss": "bce"}, "compile: loss must be a Loss, got a str: pass an instance, such as loss=BCELoss()"),
        ({"loss": BCELoss}, "compile: loss must be a Loss, got the class BCELoss: pass an instance, such as loss=BCELoss()"),
        ({"optimizer": "adam"}, "compile: optimizer must be an Optimizer, got a str: pass an instance, such as optimizer=Adam()"),
        ({"metrics": "accuracy"}, "compile: metrics must be a list of names, got the string 'accuracy': metrics=['accuracy']"),
    ],
)
def test_compile_names_the_argument_of_the_wrong_kind(compile_args: dict[str, object], message: str) -> None:
    model = Sequential([Dense(3, 1, seed=0), Sigmoid()])
    with pytest.raises(ConfigError, match=re.escape(message)):
        model.compile(**{"loss": BCELoss(), "optimizer": SGD(0.1), **compile_args})  # type: ignore[arg-type]


@pytest.mark.parametrize("validation_data", [(np.ones((4, 3)),), [np.ones((4, 3)), np.ones((4, 1)), np.ones(4), None]])
def test_validation_data_must_be_a_pair_or_a_triple(validation_data: object) -> None:
    model = Sequential([Dense(3, 1, seed=0), Sigmoid()])
    model.compile(loss=BCELoss(), optimizer=SGD(0.1))
    size = len(validation_data)  # type: ignore[arg-type]
    kind = type(validation_data).__name__
    expected = ("fit: validation_data must be a pair (x_val, y_val) or a triple (x_val, y_val, sample_weight_val), "
                f"got a {kind} of {size}")
    with pytest.raises(ConfigError, match=re.escape(expected)):
        model.fit(np.ones((4, 3)), np.ones((4, 1)), validation_data=validation_data, verbose=0)  # type: ignore[arg-type]


@pytest.mark.parametrize(("fit_args", "message"), [({"batch_size": 4.0}, "fit: batch_size must be a whole number, got 4.0"),
                                                   ({"epochs": True}, "fit: epochs must be a whole number, got True")])
def test_fit_counts_must_be_whole_numbers(fit_args: dict[str, object], message: str) -> None:
    model = Sequential([Dense(3, 1, seed=0), Sigmoid()])
    model.compile(loss=BCELoss(), optimizer=SGD(0.1))
    with pytest.raises(ConfigError, match=re.escape(message)):
        model.fit(np.ones((4, 3)), np.ones((4, 1)), verbose=0, **fit_args)  # type: ignore[arg-type]


def test_dense_sizes_must_be_whole_numbers() -> None:
    with pytest.raises(ConfigError, match=re.escape("Dense: in_features must be a whole number, got 3.0")):
        Dense(3.0, 4)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=re.escape("Dense: out_features must be a whole number, got '4'")):
        Dense(3, "4")  # type: ignore[arg-type]


class MadeInForward(Layer):
    """A learner's layer that creates its parameter on its `on`-th forward (the first, by default)."""

    def __init__(self, on: int = 1) -> None:
        super().__init__()
        self.on, self.calls = on, [0]

    def forward(self, x: Array) -> Array:
        self.calls[0] += 1
        if self.calls[0] >= self.on and not hasattr(self, "s"):
            self.s = Parameter(np.ones(x.shape[1]), name="s")
        return x * self.s.value if hasattr(self, "s") else x

    def backward(self, grad: Array) -> Array:
        if not hasattr(self, "s"):
            return grad
        self.s.grad[...] = 0.5
        return grad * self.s.value


def test_parameters_made_on_the_first_forward_are_made_when_the_model_is_built_and_trained() -> None:
    layer = MadeInForward()
    model = Sequential([layer, Dense(3, 1, seed=0), Sigmoid()])
    model.compile(loss=BCELoss(), optimizer=SGD(0.1))
    model.fit(np.ones((4, 3)), np.ones((4, 1)), epochs=2, verbose=0)  # the build's probe forward makes s
    assert [p.name for p in model.parameters()] == ["0.s", "1.W", "1.b"]
    assert np.allclose(layer.s.value, 1 - 2 * 0.1 * 0.5)  # two steps of SGD on its gradient of 0.5


def test_fit_refuses_parameters_made_in_forward_which_it_would_never_train() -> None:
    model = Sequential([MadeInForward(on=2), Dense(3, 1, seed=0), Sigmoid()])  # on fit's second batch
    model.compile(loss=BCELoss(), optimizer=SGD(0.1))
    message = "fit: forward() changed the parameters, from ['1.W', '1.b'] to ['0.s', '1.W', '1.b']; create parameters"
    with pytest.raises(ConfigError, match=re.escape(message)):
        model.fit(np.ones((4, 3)), np.ones((4, 1)), batch_size=2, verbose=0)


def test_inputs_that_are_not_arrays_are_named_with_a_hint() -> None:
    model = Sequential([Dense(3, 1, seed=0), Sigmoid()])
    message = "predict: x must be an array, or a list of arrays (one per input of the model), got a dict"
    with pytest.raises(DTypeError, match=re.escape(message)):
        model.predict({"a": np.ones((2, 3))})
    message = "predict: x[0] must be (batch, features), got shape (3,): a list of samples? pass np.asarray(x)"
    with pytest.raises(ShapeError, match=re.escape(message)):
        model.predict(np.ones((2, 3)).tolist())


def test_bce_with_logits_after_a_sigmoid_is_refused_at_compile() -> None:
    model = Sequential([Input(10), Dense(8, seed=0), ReLU(), Dense(1, seed=1), Sigmoid()])
    with pytest.raises(ConfigError, match=r"BCEWithLogitsLoss\(\) takes logits and applies the sigmoid itself, but the "
                                          r"output comes from Sigmoid\(\): remove the model's final Sigmoid\(\)"):
        model.compile(loss=BCEWithLogitsLoss(), optimizer=SGD(0.1))
    x = Input(3)
    graph = Model(x, [Sigmoid()(Dense(1, seed=0)(x)), Dense(1, seed=1)(x)])
    with pytest.raises(ConfigError, match="output comes from Sigmoid"):
        graph.compile(loss=[BCEWithLogitsLoss(), BCEWithLogitsLoss()], optimizer=SGD(0.1))
    graph.compile(loss=[BCELoss(), BCEWithLogitsLoss()], optimizer=SGD(0.1))  # logits into the second: right


def test_one_sample_without_its_batch_axis_is_told_how_to_add_it() -> None:
    model = Sequential([Dense(3, 1, seed=0)])
    with pytest.raises(ShapeError, match=re.escape("predict: x must be (batch, features), got shape (3,): one sample? "
                                                   "give it its batch axis, x.reshape(1, -1)")):
        model.predict(np.ones(3))


@pytest.mark.parametrize("declared, given", [(np.float64, np.float32), (np.float32, np.float64)], ids=["64 <- 32", "32 <- 64"])
def test_a_lazy_model_casts_float_data_to_the_dtype_its_layers_declare(declared: type, given: type) -> None:
    """Before its first layer is built there are no parameters to take a dtype from: the layers' declared
    one decides, as the parameters' does once built (float32 images were refused; new user's review)."""
    rng = np.random.default_rng(0)
    x: Array = rng.random((20, 8, 8, 1)).astype(given)
    y = rng.integers(0, 2, (20, 1)).astype(np.float64)

    def lazy() -> Sequential:
        return Sequential([Conv2D(4, 3, seed=0, dtype=declared), Flatten(), Dense(1, seed=1, dtype=declared),
                           Sigmoid()])

    fitted = lazy()
    fitted.compile(loss=BCELoss(), optimizer=SGD(lr=0.1))
    fitted.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert {p.value.dtype for p in fitted.parameters()} == {np.dtype(declared)}
    assert lazy().predict(x).dtype == np.dtype(declared)
    streamed = lazy()
    streamed.compile(loss=BCELoss(), optimizer=SGD(lr=0.1))
    streamed.fit(((x[i:i + 5], y[i:i + 5]) for i in range(0, 20, 5)), steps_per_epoch=4, epochs=1, verbose=0)
    assert {p.value.dtype for p in streamed.parameters()} == {np.dtype(declared)}
